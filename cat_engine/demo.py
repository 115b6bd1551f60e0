"""The demo site: everything a visitor needs to try cat-engine on a fresh machine.

``prepare_demo(data_dir)`` builds, once, in the data directory: a demo bank (the demo
generator sealed with the catbank writer), the SKD preset, a session ``DEMO`` with 40 demo
candidates, and a proctor account ``proctor``. The demo's secrets (bank passphrase, proctor
password, PINs) are kept in ``demo.json`` (mode 0600) so a restart prints the same logins:
acceptable for a demo, never for a real site.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cat_engine.services import sessions, users
from cat_engine.store import Store

DEMO_SESSION = "DEMO"
DEMO_CANDIDATES = 40
DEMO_PROCTOR = "proctor"
FIRST_NAMES = ("Ayu", "Budi", "Citra", "Dewi", "Eko", "Fitri", "Gilang", "Hana", "Indra", "Joko",
               "Kartika", "Lukman", "Maya", "Nanda", "Oki", "Putri", "Rizky", "Sari", "Taufik",
               "Wulan")
LAST_NAMES = ("Pratama", "Lestari", "Saputra", "Wijaya", "Hidayat", "Kusuma", "Nugroho",
              "Rahmawati", "Siregar", "Simanjuntak")


def demo_name(n: int) -> str:
    """The n-th demo candidate's name: the first 200 are all different."""
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    # Each round of first names moves the surnames one on, so no pair comes twice.
    return f"{first} {LAST_NAMES[(n * 7 + n // len(FIRST_NAMES)) % len(LAST_NAMES)]}"


@dataclass(frozen=True)
class DemoSite:
    bank_path: Path
    passphrase: str
    session: str
    token: str
    proctor: str
    proctor_password: str
    pins: list[tuple[str, str, str]]  # registration, name, PIN


def prepare_demo(data_dir: Path, store: Store, *, candidates: int = DEMO_CANDIDATES,
                 bank_size: int | None = None) -> DemoSite:
    """Create the demo site in ``data_dir`` if it is not there; return its logins."""
    data_dir = Path(data_dir)
    secrets_file = data_dir / "demo.json"
    if secrets_file.exists():
        saved = json.loads(secrets_file.read_text())
        token = sessions.find_session(store, saved["session"]).token
        return DemoSite(Path(saved["bank"]), saved["passphrase"], saved["session"], token,
                        saved["proctor"], saved["proctor_password"],
                        [tuple(p) for p in saved["pins"]])

    from item_bank.catbank import write_bank
    from item_bank.demo import generate_demo_items

    passphrase = secrets.token_urlsafe(18)
    bank_path = data_dir / "demo.catbank"
    write_bank(generate_demo_items(bank_size), bank_path, bank_id="demo-skd", version=1,
               passphrases=[passphrase])
    session = sessions.create_session(store, name=DEMO_SESSION, exam_source="skd",
                                      bank_path=bank_path, room="Demo", auto_admit=True,
                                      actor="demo")
    rows = []
    for n in range(candidates):
        name = demo_name(n)
        accommodation = {"accommodation": "tunanetra"} if n == candidates - 1 else {}
        rows.append(sessions.RosterRow(
            registration=f"DEMO{n + 1:04d}", name=name, birth_date=f"199{n % 10}-0{n % 9 + 1}-15",
            formation="general", accommodations=accommodation, photo=None, pin=None))
    pins = sessions.add_candidates(store, session.id, rows, actor="demo")
    names = {r.registration: r.name for r in rows}
    password = secrets.token_urlsafe(9)
    users.add_user(store, DEMO_PROCTOR, password, "proctor", actor="demo")
    users.assign(store, DEMO_PROCTOR, session.id, actor="demo")
    sessions.set_state(store, DEMO_SESSION, "open", actor="demo")

    saved = {"bank": str(bank_path), "passphrase": passphrase, "session": DEMO_SESSION,
             "proctor": DEMO_PROCTOR, "proctor_password": password,
             "pins": [[reg, names[reg], pin] for reg, pin in pins]}
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(saved, handle, indent=1)
    return DemoSite(bank_path, passphrase, DEMO_SESSION, session.token, DEMO_PROCTOR, password,
                    [tuple(p) for p in saved["pins"]])


def banner(demo: DemoSite, base_url: str) -> str:
    """What ``serve --demo`` prints: where to go and how to log in."""
    lines = [
        "cat-engine demo site",
        f"  terminal:  {base_url}/terminal/",
        f"  proctor:   {base_url}/proctor/   user '{demo.proctor}'  password "
        f"'{demo.proctor_password}'",
        f"  display:   {base_url}/display/   (shows a pairing code: enrol it in the "
        "proctor console, card 'Screens and PCs')",
        f"  session:   {demo.session}   token {demo.token}",
        "  candidates (registration  PIN  name):",
    ]
    lines += [f"    {reg}  {pin}  {name}" for reg, name, pin in demo.pins]
    return "\n".join(lines)
