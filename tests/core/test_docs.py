"""The README documents exactly the knobs the code defines."""

from pathlib import Path

from harness.contract import knob_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_knob_table_is_generated_from_the_contract():
    text = README.read_text(encoding="utf-8")
    begin, end = "<!-- knobs:begin -->\n", "\n<!-- knobs:end -->"
    assert begin in text and end in text, "README.md lost its knob table markers"
    table = text.split(begin, 1)[1].split(end, 1)[0]
    assert table == knob_table_markdown(), (
        "README.md's knob table is out of step with harness/contract.py KNOBS; "
        "paste the output of harness.contract.knob_table_markdown() between the markers"
    )


def test_readme_states_the_exit_precedence_of_the_contract():
    from harness.contract import EXIT_PRECEDENCE

    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- precedence:begin -->\n", 1)[1].split("\n<!-- precedence:end -->", 1)[0]
    assert block == EXIT_PRECEDENCE.rstrip("\n"), "README.md's exit precedence is out of step with harness/contract.py"
