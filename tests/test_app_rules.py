"""AppTest: the Rules page (discover, table edits, approve/reject, add by text, LLM proposals, JSON)."""

from __future__ import annotations

import json

import pytest

from app_support.testing import TIMEOUT, app_at, bank_dataset, rules_for, texts

PAGE = "pages/2_Rules.py"
DISCOVER = "FormSubmitter:rules.discover_form-Discover rules"


@pytest.fixture(scope="module")
def ds():
    return bank_dataset()


def editor_key(at) -> str:
    (editor,) = at.data_editor
    assert editor.key.startswith("rules.table.v")
    return editor.key


def test_needs_a_table_first():
    at = app_at(PAGE)
    assert not at.exception
    assert any("load one on the **Data** page" in i for i in texts(at.info))


def test_discover_then_approve(ds):
    at = app_at(PAGE, dataset=ds)
    at.slider(key="rules.rho").set_value(0.1)
    at.button(key=DISCOVER).click().run(timeout=TIMEOUT)
    assert not at.exception
    rules = at.session_state["rules"]
    assert rules and all(r.origin == "discovered" and r.status == "proposed" for r in rules)
    assert any(s.startswith("Found") for s in texts(at.success))
    assert len(at.data_editor) == 1
    # the details of the selected (first) rule: paths, rows, figure
    assert at.selectbox(key="rules.selected").value == rules[0].id
    assert any("Its real train rows" in m for m in texts(at.markdown))
    at.button(key="rules.approve_one").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.session_state["rules"][0].status == "approved"
    assert any("Approved rule" in s for s in texts(at.success))


def test_table_edits_status_and_text_with_parse_errors(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds, status="proposed"))
    at.session_state[editor_key(at)] = {"edited_rows": {0: {"status": "approved"}, 1: {"text": "V1 >= AND"}},
                                        "added_rows": [], "deleted_rows": []}
    at.run(timeout=TIMEOUT)
    assert not at.exception
    rules = at.session_state["rules"]
    assert rules[0].status == "approved"
    assert rules[1].text == "V1 < 40 AND V12 > 200"  # old rule kept
    assert any("kept its old text" in e for e in texts(at.error))
    assert any("^" in c for c in texts(at.code))  # caret line of the syntax error
    # a valid edit is re-parsed, validated and re-counted
    at.session_state[editor_key(at)] = {"edited_rows": {1: {"text": "V1 < 30"}}, "added_rows": [],
                                        "deleted_rows": []}
    at.run(timeout=TIMEOUT)
    assert not at.exception
    edited = at.session_state["rules"][1]
    assert edited.text == "V1 < 30" and edited.support == int((ds.train["V1"] < 30).sum())
    # a text that parses but names an unknown column is refused with the problem named
    at.session_state[editor_key(at)] = {"edited_rows": {1: {"text": "nope > 3"}}, "added_rows": [],
                                        "deleted_rows": []}
    at.run(timeout=TIMEOUT)
    assert at.session_state["rules"][1].text == "V1 < 30"
    assert any("unknown column 'nope'" in e for e in texts(at.error))


def test_add_rule_with_live_errors(ds):
    at = app_at(PAGE, dataset=ds)
    at.text_input(key="rules.new_text").input("V1 >= 30 AND (").run(timeout=TIMEOUT)
    assert not at.exception
    assert "The rule does not parse:" in texts(at.error)
    assert any("^" in c and "expected" in c for c in texts(at.code))
    assert at.button(key="rules.add").disabled
    at.text_input(key="rules.new_text").input("V1 >= 'old'").run(timeout=TIMEOUT)
    assert any("does not fit this table" in e for e in texts(at.error))
    at.text_input(key="rules.new_text").input("V1 >= 30").run(timeout=TIMEOUT)
    assert not at.error
    at.button(key="rules.add_approve").click().run(timeout=TIMEOUT)
    assert not at.exception
    (rule,) = at.session_state["rules"]
    assert (rule.text, rule.status, rule.origin) == ("V1 >= 30", "approved", "person")
    assert at.text_input(key="rules.new_text").value == ""


def test_bulk_buttons_and_rules_persist_across_pages(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds, status="proposed"))
    at.button(key="rules.approve_all").click().run(timeout=TIMEOUT)
    assert [r.status for r in at.session_state["rules"]] == ["approved", "approved"]
    at.switch_page("pages/3_Generate.py").run(timeout=TIMEOUT)
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception
    assert [r.status for r in at.session_state["rules"]] == ["approved", "approved"]
    at.button(key="rules.reject_all").click().run(timeout=TIMEOUT)
    at.button(key="rules.delete_rejected").click().run(timeout=TIMEOUT)
    assert at.session_state["rules"] == []


def test_import_and_export_json(ds):
    rules = rules_for(ds)
    at = app_at(PAGE, dataset=ds, rules=rules)
    exported = at.download_button(key="rules.export")
    assert not exported.disabled
    doc = json.dumps({"version": 1, "rules": [{"text": "V1 > 50", "status": "approved"}, "V6 < 0"]})
    at.file_uploader(key="rules.import").upload("rules.json", doc.encode(), "application/json").run(timeout=TIMEOUT)
    at.button(key="rules.import_btn").click().run(timeout=TIMEOUT)
    assert not at.exception
    got = at.session_state["rules"]
    assert [r.text for r in got] == ["V1 > 50", "V6 < 0"] and got[0].status == "approved"
    assert len({r.id for r in got}) == 2
    # a file with a bad rule is refused as a whole, the problems named
    bad = json.dumps({"rules": [{"text": "V1 >="}, {"text": "V1 > 2"}]})
    at.file_uploader(key="rules.import").set_value(("bad.json", bad.encode(), "application/json")).run(timeout=TIMEOUT)
    at.button(key="rules.import_btn").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert any("rule 1" in e for e in texts(at.error))
    assert [r.text for r in at.session_state["rules"]] == ["V1 > 50", "V6 < 0"]


def test_llm_endpoint_down_is_explained(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), **{
        "gen.llm_mode": "Endpoint", "gen.base_url": "http://127.0.0.1:9/v1", "gen.model": "any-model"})
    at.button(key="rules.ask_llm").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.error, "an unreachable endpoint must be reported"
    assert "127.0.0.1:9" in " ".join(texts(at.error))
    assert any("What to do" in i for i in texts(at.info))
    assert "rules.proposals" not in at.session_state


def test_llm_proposals_can_be_approved_or_rejected(ds):
    from synth_core.rules import parse_rule

    proposals = {"valid": [parse_rule("V1 > 60", origin="llm"), parse_rule("V6 > 1000", origin="llm")],
                 "invalid": [("V99 > 1", "unknown column 'V99'")]}
    at = app_at(PAGE, dataset=ds, **{"rules.proposals": proposals})
    assert not at.exception
    at.button(key="rules.proposal.approve.0").click().run(timeout=TIMEOUT)
    (rule,) = at.session_state["rules"]
    assert (rule.text, rule.status, rule.origin) == ("V1 > 60", "approved", "llm")
    at.button(key="rules.proposal.reject.0").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.session_state["rules.proposals"]["valid"] == []
    assert len(at.session_state["rules"]) == 1
