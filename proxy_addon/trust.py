"""The fake's certificate authority: where it lives, the CA bundle clients trust, and system install.

The conf directory holds mitmproxy's CA files (created on first use, the
private key at mode 0600) and `openai-fake-bundle.pem`: the system CAs plus
the fake CA, so a client told to trust it still verifies every other host.
`openai-fake-certs/<digest>/` holds the same certificates as an OpenSSL hashed
directory, which the pytest plugin trusts through `SSL_CERT_DIR` (see `write_cert_dir`).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import ssl
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CA_NAME = "openai-fake CA"
_BASENAME = "mitmproxy"  # mitmproxy looks for <confdir>/mitmproxy-ca.pem
BUNDLE_NAME = "openai-fake-bundle.pem"
CERT_DIR_NAME = "openai-fake-certs"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", re.DOTALL)


def default_confdir() -> Path:
    """`$OPENAI_FAKE_CONFDIR`, else `~/.openai-fake`."""
    return Path(os.environ.get("OPENAI_FAKE_CONFDIR") or Path.home() / ".openai-fake").expanduser()


def ca_key_file(confdir: Path) -> Path:
    return confdir / f"{_BASENAME}-ca.pem"


def ca_cert_file(confdir: Path) -> Path:
    return confdir / f"{_BASENAME}-ca-cert.pem"


def bundle_file(confdir: Path) -> Path:
    return confdir / BUNDLE_NAME


def ensure_ca(confdir: Path) -> Path:
    """Create the CA in `confdir` unless it exists; keep its key files private. Returns the cert path."""
    confdir.mkdir(parents=True, exist_ok=True)
    if not ca_key_file(confdir).exists():
        from mitmproxy.certs import CertStore

        CertStore.create_store(confdir, _BASENAME, 2048, organization="openai-fake", cn=CA_NAME)
    for secret in (ca_key_file(confdir), confdir / f"{_BASENAME}-ca.p12"):
        if secret.exists() and stat.S_IMODE(secret.stat().st_mode) != 0o600:
            secret.chmod(0o600)
    return ca_cert_file(confdir)


def system_ca_files() -> list[Path]:
    """The CA files this machine's clients trust, most specific first, existing ones only."""
    paths = ssl.get_default_verify_paths()
    candidates = [
        os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile,
        "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem",
    ]
    seen: list[Path] = []
    for c in candidates:
        if c and Path(c).is_file() and Path(c).resolve() not in seen and Path(c).name != BUNDLE_NAME:
            seen.append(Path(c).resolve())
    return seen


def write_bundle(confdir: Path) -> Path:
    """Write the system CAs plus the fake CA to the bundle file, atomically. Returns its path."""
    cert = ensure_ca(confdir).read_text()
    parts: list[str] = []
    for path in system_ca_files():
        text = path.read_text(errors="replace")
        if cert.strip() not in text:  # never nest an older bundle of ours
            parts.append(text.rstrip() + "\n")
    if not parts and hasattr(ssl, "enum_certificates"):  # Windows: the store has no file
        for der, enc, _trust in ssl.enum_certificates("ROOT"):
            if enc == "x509_asn":
                parts.append(ssl.DER_cert_to_PEM_cert(der))
    parts.append(f"# {CA_NAME}\n{cert}")
    target = bundle_file(confdir)
    tmp = target.with_suffix(".tmp")
    tmp.write_text("".join(parts))
    os.replace(tmp, target)
    return target


def write_cert_dir(confdir: Path) -> Path:
    """The bundle's certificates as an OpenSSL hashed directory (`<subject hash>.<n>` files), for
    `SSL_CERT_DIR`; written once per bundle content (call `write_bundle` first). Returns its path.

    The same trust as the bundle file, read differently: OpenSSL parses a bundle file whole each
    time a client builds an SSL context (about 40 ms for ~150 CAs, and an `OpenAI()` behind a proxy
    builds two), but looks a hashed directory up lazily, one certificate when a handshake needs it.
    The folder is named by the bundle's digest and appears whole (renamed into place), so a client
    never reads a half-written one; one left by an older bundle stays for any fake still using it.
    """
    from OpenSSL import crypto  # pyOpenSSL, which mitmproxy uses too: OpenSSL's own subject hash

    bundle = bundle_file(confdir).read_bytes()
    root = confdir / CERT_DIR_NAME
    target = root / hashlib.sha256(bundle).hexdigest()[:16]
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=root, prefix=".building-"))
    for pem in _PEM.findall(bundle):
        try:
            subject = crypto.load_certificate(crypto.FILETYPE_PEM, pem).subject_name_hash()
        except crypto.Error:  # not a certificate OpenSSL reads; the bundle file skips it too
            continue
        n = 0
        while (building / f"{subject:08x}.{n}").exists():  # CAs whose subjects hash alike: .0, .1, ...
            n += 1
        (building / f"{subject:08x}.{n}").write_bytes(pem)
    building.chmod(0o755)  # mkdtemp makes it 0700; the certificates are public
    try:
        os.rename(building, target)
    except OSError:  # another process put it there first: the same content
        shutil.rmtree(building, ignore_errors=True)
    return target


@dataclass
class InstallPlan:
    """How to add the fake CA to (or remove it from) this system's trust store."""

    system: str
    commands: list[list[str]]
    copy_to: Path | None = None

    def describe(self) -> str:
        lines = []
        if self.copy_to:
            lines.append(f"cp CERT {self.copy_to}")
        lines += [" ".join(c) for c in self.commands]
        return "\n".join(lines)


def install_plan(cert: Path, remove: bool = False) -> InstallPlan:
    """The commands for this OS: Debian/Ubuntu, Fedora/RHEL, macOS or Windows."""
    system = platform.system()
    if system == "Darwin":
        if remove:
            return InstallPlan("macOS", [["security", "delete-certificate", "-c", CA_NAME, "/Library/Keychains/System.keychain"]])
        return InstallPlan("macOS", [["security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", "/Library/Keychains/System.keychain", str(cert)]])
    if system == "Windows":
        if remove:
            return InstallPlan("Windows", [["certutil", "-delstore", "Root", CA_NAME]])
        return InstallPlan("Windows", [["certutil", "-addstore", "-f", "Root", str(cert)]])
    if Path("/usr/local/share/ca-certificates").is_dir() or shutil.which("update-ca-certificates"):
        target = Path("/usr/local/share/ca-certificates/openai-fake.crt")
        return InstallPlan("Debian/Ubuntu", [["update-ca-certificates", "--fresh"] if remove else ["update-ca-certificates"]], target)
    if Path("/etc/pki/ca-trust/source/anchors").is_dir():
        target = Path("/etc/pki/ca-trust/source/anchors/openai-fake.pem")
        return InstallPlan("Fedora/RHEL", [["update-ca-trust", "extract"]], target)
    raise OSError(f"openai-fake does not know how to install a CA on {system}; trust {cert} by hand")


def run_plan(plan: InstallPlan, cert: Path, remove: bool = False) -> None:
    """Carry out an install plan. Raises PermissionError when it needs an administrator."""
    if plan.copy_to is not None:
        if remove:
            plan.copy_to.unlink(missing_ok=True)
        else:
            shutil.copyfile(cert, plan.copy_to)
    for command in plan.commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            text = (done.stderr or done.stdout).strip()
            if "denied" in text.lower() or "privilege" in text.lower() or "authoriz" in text.lower():
                raise PermissionError(text)
            raise OSError(f"{' '.join(command)} failed: {text}")
