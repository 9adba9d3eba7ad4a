"""`openai-fake cert path|bundle|install|uninstall`: the fake's CA certificate."""

from __future__ import annotations

from typing import Annotated

import typer

from proxy_addon import trust

from . import options
from .console import err, fail, out
from .help import Command, Group, examples

app = typer.Typer(cls=Group, help="The fake's CA certificate: print its path, build the bundle, install it system-wide.",
                  no_args_is_help=True, epilog=examples(
                      "openai-fake cert path                # where the CA certificate is",
                      "sudo openai-fake cert install        # trusted by every program here",
                      "openai-fake cert install --dry-run   # the commands, to run by hand",
                  ))

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the commands instead of running them.")]


@app.command(cls=Command, epilog=examples('export NODE_EXTRA_CA_CERTS="$(openai-fake cert path)"'))
def path(confdir: options.Confdir = None) -> None:
    """Print the CA certificate's path (creating the CA on first use)."""
    typer.echo(trust.ensure_ca(options.confdir_or_default(confdir)))


@app.command(cls=Command, epilog=examples('export SSL_CERT_FILE="$(openai-fake cert bundle)"'))
def bundle(confdir: options.Confdir = None) -> None:
    """Write and print the bundle: this system's CAs plus the fake CA, for SSL_CERT_FILE and friends."""
    typer.echo(trust.write_bundle(options.confdir_or_default(confdir)))


@app.command(cls=Command, epilog=examples("sudo openai-fake cert install", "openai-fake cert install --dry-run"))
def install(confdir: options.Confdir = None, dry_run: DryRun = False) -> None:
    """Add the fake CA to the system trust store (Debian/Ubuntu, Fedora/RHEL, macOS, Windows)."""
    _apply(confdir, dry_run, remove=False)


@app.command(cls=Command, epilog=examples("sudo openai-fake cert uninstall"))
def uninstall(confdir: options.Confdir = None, dry_run: DryRun = False) -> None:
    """Remove the fake CA from the system trust store."""
    _apply(confdir, dry_run, remove=True)


def _apply(confdir, dry_run: bool, remove: bool) -> None:
    cert = trust.ensure_ca(options.confdir_or_default(confdir))
    try:
        plan = trust.install_plan(cert, remove=remove)
    except OSError as e:
        fail(str(e))
    manual = plan.describe().replace("CERT", str(cert))
    if dry_run:
        typer.echo(manual)
        return
    try:
        trust.run_plan(plan, cert, remove=remove)
    except PermissionError as e:
        fail(f"permission denied ({e}); run as an administrator, or by hand:\n{manual}")
    except OSError as e:
        fail(f"{e}\nTo do it by hand:\n{manual}")
    verb = "removed from" if remove else "installed in"
    out.print(f"{trust.CA_NAME} {verb} the {plan.system} trust store.")
    if not remove:
        err.print("Clients that bring their own CA list (openai 2.x via certifi, Node) still need `openai-fake env`.")
