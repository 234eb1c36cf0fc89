"""A throw-away certificate authority and a localhost server certificate, written to a folder."""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsMaterial:
    """Files of one throw-away CA: clients trust `ca_bundle`; the server presents cert_chain/key."""

    ca_bundle: Path
    cert_chain: Path
    private_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_chain), str(self.private_key))
        return context


def make_tls(folder: Path | None = None, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> TlsMaterial:
    """Create a CA and a certificate for `hosts`; the CA's bundle path is what clients need."""
    folder = Path(folder or tempfile.mkdtemp(prefix="msi-sync-ca-"))
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="msi-sync simulator CA")
    issued = authority.issue_cert(*hosts)
    material = TlsMaterial(
        ca_bundle=folder / "ca.pem",
        cert_chain=folder / "server-chain.pem",
        private_key=folder / "server-key.pem",
    )
    authority.cert_pem.write_to_path(str(material.ca_bundle))
    issued.private_key_pem.write_to_path(str(material.private_key))
    with open(material.cert_chain, "wb") as chain:
        for blob in issued.cert_chain_pems:
            chain.write(blob.bytes())
    return material
