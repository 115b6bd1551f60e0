"""QTI results of an adaptive session: the items each candidate was given, valid XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from cat_engine.services.qti_results import export_session
from cat_engine.services.runtime import BankKey
from cat_engine.services.sessions import find_session
from cat_engine.services.site import Site
from cat_engine.store import Store
from item_bank.catbank import open_bank
from item_bank.formats.qti_results import from_ncname

XSD = Path(__file__).parents[1] / "results" / "fixtures" / "imsqti_resultv3p0_v1p0.xsd"
NS = "{http://www.imsglobal.org/xsd/imsqti_result_v3p0}"


def test_an_adaptive_sessions_results_list_the_items_given(tmp_path, adaptive_site_factory):
    files = adaptive_site_factory(tmp_path, 1)
    store = Store(files.database_url)
    try:
        site = Site(store, keys=[BankKey(files.passphrase)])
        reg = files.registrations[0]
        cand, _ = site.login(registration=reg, pin=files.pins[reg], token=files.token,
                             terminal="T0")
        sheet = site.start(cand).reply["sheet"]
        tiu = next(s for s in sheet["sections"] if s["name"] == "TIU")
        given = []
        for k in range(tiu["count"]):  # answer the adaptive items until the engine stops
            if cand.score_sheet.info("TIU")["done"]:
                break
            site.get_item(cand, tiu["first"] + k)
            site.answer(cand, seq=k + 1, position=tiu["first"] + k, choice=k % 2)
            given.append(cand.form.item_ids[tiu["first"] + k])
        site.finish(cand, seq=100)
        bank = open_bank(files.bank_path, passphrase=files.passphrase)
        (path,) = export_session(store, find_session(store, files.session).id, bank,
                                 tmp_path / "out")
    finally:
        store.close()
    xmlschema.XMLSchema(str(XSD)).validate(str(path))
    items = [from_ncname(i.get("identifier"))
             for i in ET.parse(path).getroot().findall(f"{NS}itemResult")]
    # Fixed sections in full, the adaptive one only as far as it went: no empty slot.
    assert [i for i in items if i.startswith("TIU")] == given
    assert len(items) == 3 + len(given) + 4
