"""CLI groups: `flask sop`, `flask seed`, `flask users`."""
from __future__ import annotations


def register_cli(app) -> None:
    from seed.cli_seed import seed_cli
    from seed.cli_sop import sop_cli
    from seed.cli_users import users_cli

    app.cli.add_command(seed_cli)
    app.cli.add_command(sop_cli)
    app.cli.add_command(users_cli)
