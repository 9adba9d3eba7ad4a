"""`openai-fake cert install|uninstall` on this Debian-family machine, for real.

Installing changes the system trust store, so the test removes the CA again
in a `finally`, and runs only as root where `update-ca-certificates` exists.
The no-permission path is driven through the CLI with a command that is denied.
"""

from __future__ import annotations

import os
import shutil
import ssl
from pathlib import Path

import pytest

from conftest import run_cli

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("update-ca-certificates") or not SYSTEM_BUNDLE.exists(),
    reason="needs root and Debian's update-ca-certificates",
)
def test_install_then_uninstall_changes_the_system_store(tmp_path):
    cert = run_cli("cert", "path", "--confdir", str(tmp_path)).stdout.strip()
    pem = Path(cert).read_text().strip()
    try:
        done = run_cli("cert", "install", "--confdir", str(tmp_path), timeout=120)
        assert done.returncode == 0, done.stderr
        assert "installed in the Debian/Ubuntu trust store" in done.stdout
        assert pem in SYSTEM_BUNDLE.read_text()
        der = ssl.PEM_cert_to_DER_cert(pem)
        assert der in ssl.create_default_context(cafile=str(SYSTEM_BUNDLE)).get_ca_certs(binary_form=True)
    finally:
        removed = run_cli("cert", "uninstall", "--confdir", str(tmp_path), timeout=120)
    assert removed.returncode == 0, removed.stderr
    assert pem not in SYSTEM_BUNDLE.read_text()


def test_without_permission_it_says_so_and_gives_the_manual_command(tmp_path, monkeypatch):
    # As root nothing is denied, so the plan's command is one that fails the way a
    # non-administrator's `update-ca-certificates` does.
    import sys

    from typer.testing import CliRunner

    from openai_fake_cli.main import app
    from proxy_addon import trust

    denied = [sys.executable, "-c", "import sys; sys.exit('update-ca-certificates: Permission denied')"]
    monkeypatch.setattr(trust, "install_plan", lambda cert, remove=False: trust.InstallPlan("Debian/Ubuntu", [denied]))
    result = CliRunner().invoke(app, ["cert", "install", "--confdir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "permission denied" in result.output and "run as an administrator, or by hand" in result.output
    assert "Permission denied" in result.output and sys.executable in result.output


@pytest.mark.parametrize("system, install, uninstall", [
    ("Darwin", "security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain", "security delete-certificate -c openai-fake CA"),
    ("Windows", "certutil -addstore -f Root", "certutil -delstore Root openai-fake CA"),
])
def test_plans_for_macos_and_windows(monkeypatch, tmp_path, system, install, uninstall):
    import platform

    from proxy_addon import trust

    monkeypatch.setattr(platform, "system", lambda: system)
    cert = tmp_path / "ca.pem"
    assert trust.install_plan(cert).describe().startswith(install)
    assert trust.install_plan(cert, remove=True).describe().startswith(uninstall)
