"""AppTest: the Rules page (discover, table edits, approve/reject, add by text, LLM proposals, JSON)."""

from __future__ import annotations

import json

import pytest

from app_support.testing import TIMEOUT, app_at, bank_dataset, rules_for, texts
from synth_core.rules import parse_rule

PAGE = "pages/2_Rules.py"
DISCOVER = "FormSubmitter:rules.discover_form-Discover rules"


@pytest.fixture(scope="module")
def ds():
    return bank_dataset()


@pytest.fixture(scope="module")
def adult():
    from synth_core.data import load_dataset
    from synth_core.samples import sample_path

    return load_dataset(sample_path("adult_3k.csv"), target="income", seed=0, name="adult_3k.csv")


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
    table = at.data_editor[0].value  # one row per rule, in order, as the rules hold them
    assert list(table.columns) == ["id", "status", "rule", "origin", "support", "error", "ind(r)"]
    assert table["id"].tolist() == [r.id for r in rules]
    assert table["support"].tolist() == [r.support for r in rules]
    assert set(table["status"]) == {"proposed"} and set(table["origin"]) == {"discovered"}
    # the details of the selected (first) rule: paths, rows, figure
    assert at.selectbox(key="rules.selected").value == rules[0].id
    assert any("Its real train rows" in m for m in texts(at.markdown))
    at.button(key="rules.approve_one").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.session_state["rules"][0].status == "approved"
    assert any("Approved rule" in s for s in texts(at.success))


def test_table_changes_status_and_shows_rules_shortened(ds):
    long_rule = (
        "V1 < 25 OR V1 > 70 OR (V6 > 5000 AND V12 < 100) OR (V6 < -200 AND V13 > 3) OR V14 > 800 "
        "OR (V10 > 25 AND V15 > 2) OR V13 > 40"
    )
    rules = rules_for(ds, status="proposed") + [parse_rule(long_rule, id="r3", origin="person")]
    at = app_at(PAGE, dataset=ds, rules=rules)
    (editor,) = at.data_editor
    shown = list(editor.value["rule"])
    assert shown == [
        "V1 >= 40",
        "V1 < 40 AND V12 > 200",
        (
            "V1 < 25 OR V1 > 70 OR (V6 > 5000 AND V12 < 100) OR (V6 < -200 AND V13 > 3) OR V14 > 800 "
            "OR (V10 > 25 AND V15 > 2) OR … 1 more"
        ),
    ]
    at.session_state[editor_key(at)] = {
        "edited_rows": {0: {"status": "approved"}, 2: {"status": "rejected"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run(timeout=TIMEOUT)
    assert not at.exception
    assert [r.status for r in at.session_state["rules"]] == ["approved", "proposed", "rejected"]
    assert "Changed the status of 2 rules." in texts(at.success)
    assert [r.text for r in at.session_state["rules"]] == [
        r.text for r in rules
    ]  # the text never changes here


def test_edit_a_rule_text_with_parse_errors(ds):
    rules = rules_for(ds, status="proposed")
    rules[1] = rules[1].with_(
        origin="discovered",
        error=0.1,
        ind=0.9,
        paths=parse_rule("V6 > 3").conjunctions,
        note="From discovery.",
    )
    at = app_at(PAGE, dataset=ds, rules=rules, **{"rules.selected": "r2"})
    box = at.text_area(key="rules.edit_text")
    assert box.value == "V1 < 40 AND V12 > 200"  # the whole rule, ready to edit
    assert box.proto.form_id == "rules.edit_form" and at.button(key="rules.edit_save").proto.is_form_submitter
    box.input("V1 >= AND")
    at.button(key="rules.edit_save").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.session_state["rules"][1].text == "V1 < 40 AND V12 > 200"  # old rule kept
    assert "Rule r2 kept its old text: the new text does not parse:" in texts(at.error)
    assert any("^" in c for c in texts(at.code))  # caret line of the syntax error
    # a valid edit is re-parsed, validated and re-counted; one click saves it
    at.text_area(key="rules.edit_text").input("V1 < 30\nOR\nV12 > 900")
    at.button(key="rules.edit_save").click().run(timeout=TIMEOUT)
    assert not at.exception
    edited = at.session_state["rules"][1]
    assert edited.text == "V1 < 30 OR V12 > 900" and edited.origin == "person"
    assert (edited.error, edited.ind, edited.paths) == (None, None, ())
    assert edited.support == int(((ds.train["V1"] < 30) | (ds.train["V12"] > 900)).sum())
    assert edited.note == "From discovery. Edited from: V1 < 40 AND V12 > 200."
    assert any(s.startswith("Saved the new text of rule r2") for s in texts(at.success))
    assert at.text_area(key="rules.edit_text").value == "V1 < 30\nOR\nV12 > 900"
    # a text that parses but names an unknown column is refused with the problem named
    at.text_area(key="rules.edit_text").input("nope > 3")
    at.button(key="rules.edit_save").click().run(timeout=TIMEOUT)
    assert at.session_state["rules"][1].text == "V1 < 30 OR V12 > 900"
    assert any("unknown column 'nope'" in e for e in texts(at.error))


def test_add_rule_form_one_submit_and_errors(ds):
    at = app_at(PAGE, dataset=ds)
    # a text box outside a form commits on blur, and the click that blurs it is lost: box and buttons share a form
    assert at.text_area(key="rules.new_text").proto.form_id == "rules.add_form"
    for key in ("rules.add", "rules.add_approve"):
        assert (
            at.button(key=key).proto.is_form_submitter
            and at.button(key=key).proto.form_id == "rules.add_form"
        )
    at.text_area(key="rules.new_text").input("V1 >= 30 AND (")
    at.button(key="rules.add").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert "The rule does not parse:" in texts(at.error)
    assert any("^" in c and "expected" in c for c in texts(at.code))
    assert "rules" not in at.session_state or at.session_state["rules"] == []
    assert at.text_area(key="rules.new_text").value == "V1 >= 30 AND ("  # kept, to correct
    at.text_area(key="rules.new_text").input("V1 >= 'old'")
    at.button(key="rules.add").click().run(timeout=TIMEOUT)
    assert any("does not fit this table" in e for e in texts(at.error))
    # typing and one click on the submit button adds the rule (the text is committed by the same click)
    at.text_area(key="rules.new_text").input("V1 >= 30")
    at.button(key="rules.add_approve").click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    (rule,) = at.session_state["rules"]
    assert (rule.id, rule.text, rule.status, rule.origin) == ("u1", "V1 >= 30", "approved", "person")
    assert rule.support == int((ds.train["V1"] >= 30).sum())
    assert at.text_area(key="rules.new_text").value == ""
    n = int((ds.train["V1"] >= 30).sum())
    assert f"Added and approved rule u1, `` V1 >= 30 ``: it covers {n:,} train rows." in texts(at.success)
    assert at.selectbox(key="rules.selected").value == "u1"  # the new rule is shown in full
    at.text_area(key="rules.new_text").input("V6 > 1000")
    at.button(key="rules.add").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert [(r.id, r.status) for r in at.session_state["rules"]] == [("u1", "approved"), ("u2", "proposed")]
    assert at.selectbox(key="rules.selected").value == "u2"
    # the same rule again is refused, by name
    at.text_area(key="rules.new_text").input("V1>=30")
    at.button(key="rules.add").click().run(timeout=TIMEOUT)
    assert len(at.session_state["rules"]) == 2
    assert "This rule is already in the set as u1 (approved); nothing was added." in texts(at.warning)
    # an empty box says what to do
    at.text_area(key="rules.new_text").input("")
    at.button(key="rules.add").click().run(timeout=TIMEOUT)
    assert any(w.startswith("Write a rule in the box first") for w in texts(at.warning))
    assert not at.exception


def test_approve_all_never_overrides_a_reject(ds):
    rules = [
        r.with_(status=s)
        for r, s in zip(
            rules_for(ds) + [parse_rule("V6 > 1000", id="r3")], ["rejected", "proposed", "proposed"]
        )
    ]
    at = app_at(PAGE, dataset=ds, rules=rules)
    at.button(key="rules.approve_all").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert [r.status for r in at.session_state["rules"]] == ["rejected", "approved", "approved"]
    assert (
        "Approved 2 proposed rules. 1 rule you rejected stays rejected; approve it one by one if you changed "
        "your mind."
    ) in texts(at.success)
    assert at.button(key="rules.approve_all").disabled  # nothing proposed is left
    assert at.button(key="rules.reject_all").disabled


def test_reject_all_keeps_approvals_and_delete_rejected(ds):
    rules = [
        r.with_(status=s)
        for r, s in zip(
            rules_for(ds) + [parse_rule("V6 > 1000", id="r3")], ["approved", "proposed", "proposed"]
        )
    ]
    at = app_at(PAGE, dataset=ds, rules=rules)
    at.button(key="rules.reject_all").click().run(timeout=TIMEOUT)
    assert [r.status for r in at.session_state["rules"]] == ["approved", "rejected", "rejected"]
    assert "Rejected 2 proposed rules. 1 rule you approved stays approved." in texts(at.info)
    at.button(key="rules.delete_rejected").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert [r.id for r in at.session_state["rules"]] == ["r1"]
    assert "Deleted 2 rejected rules." in texts(at.info)


def test_bulk_buttons_and_rules_persist_across_pages(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds, status="proposed"))
    at.button(key="rules.approve_all").click().run(timeout=TIMEOUT)
    assert [r.status for r in at.session_state["rules"]] == ["approved", "approved"]
    at.switch_page("pages/3_Generate.py").run(timeout=TIMEOUT)
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception
    assert [r.status for r in at.session_state["rules"]] == ["approved", "approved"]
    assert at.text_area(key="rules.edit_text").value == "V1 >= 40"  # the edit box is filled again


def test_rule_detail_is_wrapped_with_sets_shortened(adult):
    values = sorted(adult.train["education"].dropna().unique())
    assert len(values) > 8
    text = (
        "(age >= 40 AND education in {" + ", ".join(repr(v) for v in values) + "}) OR "
        "(age < 25 AND hours_per_week > 45 AND sex == 'Male' AND race == 'White' AND relationship == 'Own-child')"
    )
    rule = parse_rule(text, id="r1", origin="person")
    at = app_at(PAGE, dataset=adult, rules=[rule])
    assert not at.exception
    shown = (
        "age >= 40\n    AND education in {"
        + ", ".join(repr(v) for v in values[:8])
        + f", … {len(values) - 8} more}}\nOR\n"
        "age < 25 AND hours_per_week > 45 AND sex == 'Male' AND race == 'White'\n"
        "    AND relationship == 'Own-child'"
    )
    assert shown in texts(at.code)
    assert any("Sets of more than 8 values are shortened" in c for c in texts(at.caption))
    # the edit box holds every value, and what it holds parses back to the same rule
    box = at.text_area(key="rules.edit_text").value
    assert all(repr(v) in box for v in values)
    assert parse_rule(box).conjunctions == rule.conjunctions
    (editor,) = at.data_editor
    assert editor.value["rule"][0].startswith("(age >= 40 AND education in {'10th', '11th', '12th', … ")


def test_tree_paths_are_explained_and_discovery_speaks_in_sentences(ds):
    at = app_at(PAGE, dataset=ds)
    at.number_input(key="rules.max_rules").set_value(2)
    at.button(key=DISCOVER).click().run(timeout=TIMEOUT)
    assert not at.exception
    merged = [w for w in texts(at.warning) if "were merged into the rule whose model fits them best" in w]
    assert merged and merged[0].endswith(
        "to keep at most 2 rules (max\\_rules); the note of each rule that took one in names it."
    )
    assert any(
        "was merged into it to keep at most 2 rules" in c for c in texts(at.caption)
    )  # the rule's note
    rule = at.session_state["rules"][0]
    assert rule.paths
    assert any(
        c.startswith("These are not conditions of the rule: they are the leaves of the decision tree")
        and "may use other columns than the rule" in c
        for c in texts(at.caption)
    )
    from app_support.glossary import GLOSSARY

    (heading,) = [m for m in at.markdown if m.value == "**Tree paths of its shared model**"]
    assert heading.proto.help == GLOSSARY["tree paths"]
    inside = ds.train[rule.mask(ds.train)]
    lines = [f"{p.to_text()}   [{int(p.mask(inside).sum()):,} of the rule's rows]" for p in rule.paths]
    assert "\n".join(lines) in texts(at.code)
    assert not any("merged_" in m for m in texts(at.warning) + texts(at.caption) + texts(at.code))


@pytest.mark.parametrize("sample", ["bank", "adult"])
def test_examples_use_the_tables_own_columns(sample, ds, adult):
    from synth_core.rules import validate_rule
    from synth_core.ruleset import example_rule_text

    data = {"bank": ds, "adult": adult}[sample]
    at = app_at(PAGE, dataset=data)
    placeholder = at.text_area(key="rules.new_text").placeholder
    example = example_rule_text(data.schema, data.train)
    assert placeholder == f"e.g. {example}"
    rule = parse_rule(example)
    validate_rule(rule, data.schema)
    assert len(rule.columns) == 2 and set(rule.columns) <= set(data.features)
    assert rule.count(data.train) > 0
    if sample == "bank":
        assert "workclass" not in placeholder
        assert not any("workclass" in c for c in texts(at.caption))
    assert any(f"`` {example} ``" in c for c in texts(at.caption))


def test_words_have_tooltips_and_a_glossary(ds):
    from app_support.glossary import GLOSSARY, RULES_TERMS

    at = app_at(PAGE, dataset=ds, rules=rules_for(ds))
    slider = at.slider(key="rules.rho")
    assert slider.label == "Most error a rule's model may make (rho)"
    assert slider.help.startswith(GLOSSARY["rho"])
    assert at.number_input(key="rules.max_rules").help == GLOSSARY["Most rules"]
    (discover,) = [m for m in at.markdown if m.value.startswith("**Discover rules**")]
    assert (
        discover.proto.help == f"**DGR**: {GLOSSARY['DGR']}\n\n**shared model**: {GLOSSARY['shared model']}"
    )
    glossary = [m for m in texts(at.markdown) if m.startswith("- **rule**:")]
    assert glossary and all(f"- **{t}**: {GLOSSARY[t]}" in glossary[0] for t in RULES_TERMS)
    for term in ("DGR", "rho", "support", "error", "ind(r)", "tree paths", "shared model"):
        assert term in RULES_TERMS
    page = " ".join(texts(at.markdown) + texts(at.caption) + texts(at.info) + [b.label for b in at.button])
    for jargon in ("MDS", "arms", "Alg. 3", "teacher", "merged_"):
        assert jargon not in page


def test_import_and_export_json(ds):
    rules = rules_for(ds)
    at = app_at(PAGE, dataset=ds, rules=rules)
    exported = at.download_button(key="rules.export")
    assert not exported.disabled
    doc = json.dumps({"version": 1, "rules": [{"text": "V1 > 50", "status": "approved"}, "V6 < 0"]})
    at.file_uploader(key="rules.import").upload("rules.json", doc.encode(), "application/json").run(
        timeout=TIMEOUT
    )
    at.button(key="rules.import_btn").click().run(timeout=TIMEOUT)
    assert not at.exception
    got = at.session_state["rules"]
    assert [r.text for r in got] == ["V1 > 50", "V6 < 0"] and got[0].status == "approved"
    assert len({r.id for r in got}) == 2
    # a file with a bad rule is refused as a whole, the problems named
    bad = json.dumps({"rules": [{"text": "V1 >="}, {"text": "V1 > 2"}]})
    at.file_uploader(key="rules.import").set_value(("bad.json", bad.encode(), "application/json")).run(
        timeout=TIMEOUT
    )
    at.button(key="rules.import_btn").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert any("rule 1" in e for e in texts(at.error))
    assert [r.text for r in at.session_state["rules"]] == ["V1 > 50", "V6 < 0"]


def test_llm_endpoint_down_is_explained(ds):
    at = app_at(
        PAGE,
        dataset=ds,
        rules=rules_for(ds),
        **{"gen.llm_mode": "Endpoint", "gen.base_url": "http://127.0.0.1:9/v1", "gen.model": "any-model"},
    )
    at.button(key="rules.ask_llm").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.error, "an unreachable endpoint must be reported"
    assert "127.0.0.1:9" in " ".join(texts(at.error))
    assert any("What to do" in i for i in texts(at.info))
    assert "rules.proposals" not in at.session_state


def test_llm_proposals_can_be_approved_or_rejected(ds):
    proposals = {
        "valid": [parse_rule("V1 > 60", origin="llm"), parse_rule("V6 > 1000", origin="llm")],
        "invalid": [("V99 > 1", "unknown column 'V99'")],
    }
    at = app_at(PAGE, dataset=ds, **{"rules.proposals": proposals})
    assert not at.exception
    at.button(key="rules.proposal.approve.0").click().run(timeout=TIMEOUT)
    (rule,) = at.session_state["rules"]
    assert (rule.text, rule.status, rule.origin) == ("V1 > 60", "approved", "llm")
    at.button(key="rules.proposal.reject.0").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.session_state["rules.proposals"]["valid"] == []
    assert len(at.session_state["rules"]) == 1
