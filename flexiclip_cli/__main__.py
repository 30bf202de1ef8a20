"""``python -m flexiclip_cli``: the same as the ``flexiclip`` command."""

from flexiclip_cli.main import app

app(prog_name="flexiclip")
