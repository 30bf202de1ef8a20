"""Catalog schemas and I/O: the input catalog (`catalogs.input`), the versioned output catalog
(`catalogs.output`), storage options (`catalogs.storage`) and the bundled samples.

Kept free of imports so that importing a submodule stays cheap.
"""
