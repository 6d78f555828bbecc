"""Value grammars, token masks, conditional sampling and imputation."""

import numpy as np
import pandas as pd
import pytest

from synthlib.conditions import column_grammars, complete_columns, condition_grammar, observed_levels
from synthlib.constraints import (
    DEAD_END,
    END,
    FORCE,
    SAMPLE,
    DateGrammar,
    LevelGrammar,
    NumberGrammar,
    RowConstraints,
    ValueMask,
    column_grammar,
    token_table,
    unescaped_comma,
)
from synthlib.dictionary import ColumnSpec, DataDictionary
from synthlib.encoding import MISSING_MARKER, encode_table, escape, format_value, parse_rows, unescape
from synthlib.exceptions import ConditionError, DataValidationError
from synthlib.models import ScratchModelConfig, build_scratch_model, train_row_tokenizer
from synthlib.sampling import impute, sample
from synthlib.training import TrainingSettings, fine_tune
from synthlib.validation import validate_table
from synthlib.values import convert_column

PAIN_LEVELS = ("none", "pain is mild, intermittent", "severe")

DICTIONARY = DataDictionary(
    "constraints",
    (
        ColumnSpec("id", "integer", role="identifier"),
        ColumnSpec("sbp (mmHg)", "integer", range=(60, 260)),
        ColumnSpec("pain", "categorical", levels=PAIN_LEVELS),
        ColumnSpec("diagnosis", "categorical", levels=("Ménière", "Mèniere", "migraine")),
        ColumnSpec("ldl", "numeric", range=(-1.5, 10), decimals=2),
        ColumnSpec("smoker", "binary"),
        ColumnSpec("visit", "date", range=(pd.Timestamp("2019-01-01"), pd.Timestamp("2021-12-31"))),
        ColumnSpec("score", "numeric", decimals=1),
    ),
)


def make_table(n_rows=240, random_state=0):
    rng = np.random.default_rng(random_state)
    sbp = pd.array(rng.integers(90, 200, n_rows), dtype="Int64")
    sbp[rng.random(n_rows) < 0.05] = pd.NA
    ldl = rng.normal(3, 1.5, n_rows).clip(-1.5, 10).round(2)
    ldl[rng.random(n_rows) < 0.25] = np.nan
    visits = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1000, n_rows), unit="D")
    return pd.DataFrame(
        {
            "id": pd.array(np.arange(n_rows), dtype="Int64"),
            "sbp (mmHg)": sbp,
            "pain": pd.Categorical(rng.choice(PAIN_LEVELS, n_rows), categories=PAIN_LEVELS),
            "diagnosis": pd.Categorical(
                rng.choice(["Ménière", "migraine"], n_rows), categories=["Ménière", "Mèniere", "migraine"]
            ),
            "ldl": ldl,
            "smoker": pd.array(rng.integers(0, 2, n_rows), dtype="Int64"),
            "visit": visits.astype("datetime64[ns]"),
            "score": rng.normal(0, 50, n_rows).round(1),
        }
    )


@pytest.fixture(scope="module")
def texts():
    return encode_table(make_table(), DICTIONARY)


@pytest.fixture(scope="module")
def tokenizer(texts):
    return train_row_tokenizer(texts, vocab_size=400)


# --- Number grammar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix, allowed",
    [
        (b"", True),
        (b"0", True),  # 0.5 to 0.9
        (b"0.", True),
        (b"0.4", False),  # below the minimum 0.5
        (b"0.5", True),
        (b"1", True),  # 1.0 and 10.0
        (b"10", True),
        (b"10.0", True),
        (b"10.1", False),  # above the maximum 10
        (b"11", False),
        (b"100", False),
        (b"01", False),  # leading zero
        (b".5", False),  # no integer part
        (b"3.", True),
        (b"3.25", False),  # more decimals than declared
        (b"3..", False),
        (b"-", False),  # no negative value in range
        (b" 3", False),  # the grammar starts after the space
        (b"3a", False),
    ],
)
def test_number_prefix_in_range(prefix, allowed):
    grammar = NumberGrammar(0.5, 10, 1)
    assert bool(grammar.completions(prefix, 1)) is allowed


@pytest.mark.parametrize(
    "text, member",
    [(b"0.5", True), (b"10.0", True), (b"3.2", True), (b"3", False), (b"3.", False), (b"10", False), (b"0.4", False)],
)
def test_number_members_need_all_decimals(text, member):
    assert NumberGrammar(0.5, 10, 1).accepts(text) is member


def test_number_negative_range():
    grammar = NumberGrammar(-1.5, 10, 2)
    assert grammar.accepts(b"-1.50")
    assert grammar.accepts(b"-0.01")
    assert not grammar.accepts(b"-1.51")
    assert not grammar.accepts(b"-0.00")
    assert not grammar.completions(b"-2", 1)
    assert set(grammar.completions(b"-1.", 100)) == {f"-1.{k:02d}".encode() for k in range(51)}
    assert set(grammar.completions(b"-0.0", 100)) == {f"-0.0{k}".encode() for k in range(1, 10)}


def test_number_negative_zero_never_written():
    assert not NumberGrammar(-5, 5, 0).accepts(b"-0")
    assert not NumberGrammar(-5, 5, 0).completions(b"-0", 1)
    assert NumberGrammar(-5, 5, 0).accepts(b"0")


def test_number_open_bounds_keep_fifteen_digits():
    grammar = NumberGrammar(None, None, 1)
    assert grammar.accepts(b"-99999999999999.9")
    assert grammar.accepts(b"99999999999999.9")
    assert not grammar.accepts(b"100000000000000.0")
    assert grammar.max_length == len("-99999999999999.9")


def test_number_open_lower_bound_only():
    grammar = NumberGrammar(None, 0, 0)
    assert grammar.accepts(b"-123")
    assert grammar.accepts(b"0")
    assert not grammar.accepts(b"1")


def test_integer_grammar_has_no_point():
    grammar = NumberGrammar(18, 100, 0)
    assert grammar.accepts(b"18")
    assert grammar.accepts(b"100")
    assert not grammar.completions(b"18.", 1)
    assert not grammar.accepts(b"17")
    assert grammar.completions(b"1", 5) == [b"18", b"19", b"100"]


def test_number_members_match_format_value():
    rng = np.random.default_rng(0)
    for decimals in range(4):
        spec = ColumnSpec("x", "numeric", decimals=decimals)
        grammar = NumberGrammar(None, None, decimals)
        for scaled in rng.integers(-(10**14), 10**14, 300).tolist() + [0, 1, -1, 10**decimals]:
            written = format_value(scaled / 10**decimals, spec)
            assert grammar.format(scaled).decode() == written
            assert grammar.accepts(written.encode())


def test_number_bounds_need_no_float_rounding():
    grammar = NumberGrammar(0.1, 0.3, 1)
    assert grammar.accepts(b"0.1")
    assert grammar.accepts(b"0.3")
    assert grammar.completions(b"", 5) == [b"0.1", b"0.2", b"0.3"]


def test_number_range_without_member_is_empty():
    assert NumberGrammar(1.01, 1.09, 1).is_empty


# --- Date grammar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix, allowed",
    [
        (b"2020-02-29", True),  # leap day
        (b"2021-02-29", False),
        (b"2021-13", False),
        (b"2021-00", False),
        (b"2021-1", True),
        (b"2021-04-31", False),
        (b"2021-04-3", True),
        (b"2021-04-4", False),
        (b"2021/", False),
        (b"2022", False),  # after the maximum
        (b"2018", False),  # before the minimum
        (b"20", True),
    ],
)
def test_date_prefix_in_range(prefix, allowed):
    grammar = DateGrammar(pd.Timestamp("2019-01-01"), pd.Timestamp("2021-12-31"))
    assert bool(grammar.completions(prefix, 1)) is allowed


def test_date_range_bounds_inclusive():
    grammar = DateGrammar(pd.Timestamp("2020-03-15"), pd.Timestamp("2020-03-20"))
    assert grammar.completions(b"", 10) == [f"2020-03-{day}".encode() for day in range(15, 21)]
    assert grammar.completions(b"2020-03-2", 5) == [b"2020-03-20"]


def test_date_open_bounds_follow_pandas():
    grammar = DateGrammar()
    first = grammar.completions(b"", 1)[0].decode()
    assert pd.Timestamp(first) >= pd.Timestamp.min
    assert not grammar.completions(b"1677-09-21", 1)
    assert grammar.accepts(b"2262-04-11")
    assert not grammar.accepts(b"2262-04-12")


def test_date_time_of_day_bounds_keep_whole_days():
    grammar = DateGrammar(pd.Timestamp("2020-01-01 12:00"), pd.Timestamp("2020-01-03 12:00"))
    assert grammar.completions(b"", 5) == [b"2020-01-02", b"2020-01-03"]


# --- Levels, binary and the missing marker -------------------------------------------------------


def test_levels_escaped_like_the_encoder():
    grammar = column_grammar(DICTIONARY.column("pain"))
    written = format_value("pain is mild, intermittent", DICTIONARY.column("pain"))
    assert grammar.accepts(written.encode())
    assert not grammar.accepts(b"pain is mild, intermittent")
    assert not grammar.completions(b"pain is mild,", 1)
    assert grammar.completions(b"pain is mild\\", 2) == [written.encode()]


def test_level_prefix_of_another_level():
    grammar = LevelGrammar(["pl", "plain"])
    assert grammar.accepts(b"pl")
    assert grammar.completions(b"pl", 3) == [b"pl", b"plain"]
    assert not grammar.accepts(b"pla")


def test_column_grammar_allows_missing_marker():
    for spec in DICTIONARY.columns:
        assert column_grammar(spec).accepts(MISSING_MARKER.encode()), spec.name
        assert not column_grammar(spec, allow_missing=False).accepts(MISSING_MARKER.encode()), spec.name


def test_binary_grammar_takes_zero_and_one():
    grammar = column_grammar(DICTIONARY.column("smoker"))
    assert grammar.accepts(b"0")
    assert grammar.accepts(b"1")
    assert not grammar.completions(b"2", 1)
    assert grammar.completions(b"1", 2) == [b"1"]


def test_unescaped_comma_positions():
    assert unescaped_comma(b"3", b",") == 0
    assert unescaped_comma(b"mild\\", b", x") is None
    assert unescaped_comma(b"a\\\\", b",") == 0
    assert unescaped_comma(b"", b">,") == 1
    assert unescaped_comma(b"", b"\\,,") == 2


# --- Token masks ----------------------------------------------------------------------------------


def walk_value(mask: ValueMask, rng) -> bytes:
    """Write one value by choosing uniformly among the tokens the mask allows."""
    text = b""
    while True:
        decision, payload = mask.decide(text)
        if decision == END:
            return text
        if decision == FORCE:
            member, ids = payload
            assert text + b"".join(mask.table.token_bytes[i] for i in ids) == member
            return member
        assert decision == SAMPLE
        ids = mask.candidate_ids[payload].tolist()
        token = ids[rng.integers(len(ids))]
        if token == mask.table.eos:
            return text
        data = mask.table.token_bytes[token]
        cut = unescaped_comma(text, data)
        if cut is not None:
            return text + data[:cut]
        text += data


def assert_valid_value(text: bytes, spec: ColumnSpec):
    assert text.startswith(b" "), text
    written = text[1:].decode("utf-8")
    raw = None if written == MISSING_MARKER else unescape(written)
    conversion = convert_column(pd.Series([raw], dtype=object), spec)
    assert not conversion.invalid, (spec.name, written)
    if raw is not None:
        assert format_value(conversion.values.iloc[0], spec) == written, (spec.name, written)


def test_random_tokens_under_mask_give_valid_values(tokenizer):
    rng = np.random.default_rng(0)
    grammars = column_grammars(DICTIONARY)
    for name, grammar in grammars.items():
        mask = ValueMask(grammar, token_table(tokenizer))
        values = {walk_value(mask, rng) for _ in range(300)}
        for value in values:
            assert_valid_value(value, DICTIONARY.column(name))
        assert len(values) > 2, name


def test_mask_reaches_every_level(tokenizer):
    rng = np.random.default_rng(1)
    spec = DICTIONARY.column("diagnosis")
    mask = ValueMask(column_grammar(spec), token_table(tokenizer))
    values = {walk_value(mask, rng) for _ in range(200)}
    expected = {b" " + escape(level).encode() for level in spec.levels} | {b" " + MISSING_MARKER.encode()}
    assert values == expected


def test_mask_end_of_sequence_only_after_complete_value(tokenizer):
    mask = ValueMask(NumberGrammar(1, 300, 0), token_table(tokenizer))
    eos_position = len(mask.candidate_ids) - 1
    decision, allowed = mask.decide(b" ")
    assert decision == SAMPLE
    assert not allowed[eos_position]
    decision, allowed = mask.decide(b" 14")  # 14 and 140 to 149
    assert decision == SAMPLE
    assert allowed[eos_position]


def test_mask_forces_rest_of_unique_level(tokenizer):
    mask = ValueMask(column_grammar(DICTIONARY.column("pain")), token_table(tokenizer))
    decision, (member, ids) = mask.decide(b" pain")
    assert decision == FORCE
    assert member == b" " + escape("pain is mild, intermittent").encode()
    assert tokenizer.decode(ids) == " is mild\\, intermittent"


def test_mask_ends_value_no_other_value_extends(tokenizer):
    mask = ValueMask(NumberGrammar(60, 260, 0), token_table(tokenizer))
    assert mask.decide(b" 140")[0] == END
    assert mask.decide(b" 26")[0] == FORCE  # 26 is below the range, so 260 is the only member left
    assert mask.decide(b" 260")[0] == END
    assert mask.decide(b" 1")[0] == SAMPLE


def test_mask_forces_fixed_value_from_start(tokenizer):
    constraints = RowConstraints(tokenizer, column_grammars(DICTIONARY))
    mask = constraints.mask("ldl", "3.25")
    decision, (member, ids) = mask.decide(b"")
    assert decision == FORCE
    assert member == b" 3.25"


def test_mask_rejects_text_outside_grammar(tokenizer):
    mask = ValueMask(NumberGrammar(60, 260, 0), token_table(tokenizer))
    assert mask.decide(b" 9")[0] == SAMPLE  # 90 to 99
    assert mask.decide(b" 5")[0] == DEAD_END


def test_mask_candidates_restricted_to_value_bytes(tokenizer):
    table = token_table(tokenizer)
    mask = ValueMask(NumberGrammar(60, 260, 0), table)
    for token_id in mask.candidate_ids[:-1].tolist():
        before_comma = table.token_bytes[token_id].split(b",", 1)[0]
        assert set(before_comma) <= set(b" 0123456789<NA>"), table.token_bytes[token_id]


def test_non_ascii_level_split_inside_a_character(tokenizer):
    # "Ménière" and "Mèniere" share the first byte of their second character, so a
    # byte-level token can end inside that character.
    grammar = column_grammar(DICTIONARY.column("diagnosis"))
    mask = ValueMask(grammar, token_table(tokenizer))
    shared = " Mé".encode()[:-1]
    decision, _ = mask.decide(shared)
    assert decision == SAMPLE
    decision, (member, ids) = mask.decide(" Mé".encode())
    assert decision == FORCE
    assert member.decode() == " Ménière"


@pytest.mark.slow
def test_mask_with_smollm2_vocabulary():
    from transformers import AutoTokenizer

    from synthlib.pretrained import find_smollm2_gguf

    gguf = find_smollm2_gguf()
    smollm2 = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    table = token_table(smollm2)
    assert len(table.token_bytes) > 40000
    rng = np.random.default_rng(0)
    for name, grammar in column_grammars(DICTIONARY).items():
        mask = ValueMask(grammar, table)
        assert len(mask.candidate_ids) < 5000, name
        for _ in range(100):
            assert_valid_value(walk_value(mask, rng), DICTIONARY.column(name))


# --- Conditions -----------------------------------------------------------------------------------


def test_condition_value_is_only_member():
    grammar = condition_grammar(DICTIONARY.column("pain"), "pain is mild, intermittent")
    assert grammar.completions(b"", 5) == [escape("pain is mild, intermittent").encode()]


def test_condition_range_narrows_numbers():
    grammar = condition_grammar(DICTIONARY.column("sbp (mmHg)"), (150, None))
    assert grammar.accepts(b"150")
    assert grammar.accepts(b"260")
    assert not grammar.accepts(b"149")
    assert not grammar.accepts(MISSING_MARKER.encode())


def test_condition_range_narrows_dates():
    grammar = condition_grammar(DICTIONARY.column("visit"), (None, "2019-01-31"))
    assert grammar.accepts(b"2019-01-31")
    assert not grammar.accepts(b"2019-02-01")


def test_condition_levels_subset():
    grammar = condition_grammar(DICTIONARY.column("pain"), ["none", "severe"])
    assert grammar.completions(b"", 5) == [b"none", b"severe"]


def test_condition_none_asks_for_missing():
    grammar = condition_grammar(DICTIONARY.column("ldl"), None)
    assert grammar.completions(b"", 5) == [MISSING_MARKER.encode()]


@pytest.mark.parametrize(
    "conditions, message",
    [
        ({"pian": "none"}, r"conditions name column 'pian', which is not in data dictionary.*did you mean 'pain'"),
        ({"id": 3}, r"column 'id', an identifier.*remove it"),
        ({"pain": "mild"}, r"'mild' is not a declared level; use one of: none, pain is mild"),
        ({"pain": ["none", "sever"]}, r"'sever' is not a declared level \(did you mean 'severe'\?\)"),
        ({"sbp (mmHg)": (40, 100)}, r"column 'sbp \(mmHg\)': min 40 is below the declared range \[60, 260\]"),
        ({"sbp (mmHg)": (100, 300)}, r"max 300 is above the declared range \[60, 260\]; use a max of at most 260"),
        ({"sbp (mmHg)": (120, 100)}, r"range \(120, 100\) is empty because min is greater than max"),
        ({"ldl": (1.01, 1.001)}, r"is empty because min is greater than max"),
        ({"score": (1.01, 1.09)}, r"contains no value at the column's precision \(1 decimal place"),
        ({"sbp (mmHg)": (100, 120, 140)}, r"a range is a \(min, max\) tuple"),
        ({"sbp (mmHg)": ("low", None)}, r"range min 'low' is not a number"),
        ({"sbp (mmHg)": 300}, r"300 is outside the declared range \[60, 260\]"),
        ({"sbp (mmHg)": 120.5}, r"120.5 is not a whole number"),
        ({"ldl": 3.125}, r"more decimal places than the 2"),
        ({"smoker": 2}, r"2 is not 0 or 1"),
        ({"visit": "2019-02-30"}, r"not a date"),
        ({"visit": ("2018-01-01", None)}, r"min 2018-01-01 is below the declared range \[2019-01-01, 2021-12-31\]"),
        ({"pain": []}, r"the list of allowed values is empty"),
    ],
)
def test_invalid_condition_raises(conditions, message):
    with pytest.raises(ConditionError, match=message):
        column_grammars(DICTIONARY, conditions)


def test_training_levels_restrict_levels():
    grammars = column_grammars(DICTIONARY, training_levels={"pain": ["none"], "smoker": [0]})
    assert grammars["pain"].completions(b"", 5) == [b"none", MISSING_MARKER.encode()]
    assert grammars["smoker"].completions(b"", 5) == [b"0", MISSING_MARKER.encode()]


def test_training_levels_reject_undeclared_level():
    with pytest.raises(ConditionError, match=r"training_levels of column 'pain': 'mild' is not a declared level"):
        column_grammars(DICTIONARY, training_levels={"pain": ["mild"]})


def test_observed_levels_in_declaration_order():
    table = make_table(40)
    table["pain"] = pd.Categorical(["severe", "none"] * 20, categories=PAIN_LEVELS)
    table["smoker"] = pd.array([1] * 40, dtype="Int64")
    levels = observed_levels(table, DICTIONARY)
    assert levels["pain"] == ["none", "severe"]
    assert levels["smoker"] == [1]
    assert "id" not in levels


# --- Sampling with real models --------------------------------------------------------------------


@pytest.fixture(scope="module")
def untrained(texts, tokenizer):
    model = build_scratch_model(tokenizer, ScratchModelConfig(n_layer=2, n_embd=64, n_head=2), texts)
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_untrained_model_samples_only_valid_rows(untrained, tokenizer, seed):
    result = sample(untrained, tokenizer, DICTIONARY, 64, batch_size=64, random_state=seed, progress=False)
    assert result.n_valid == result.n_generated
    assert result.rejections == {}
    validate_table(result.synthetic, DICTIONARY.subset(DICTIONARY.modelled_columns))


@pytest.mark.slow
def test_untrained_model_samples_hot_temperature(untrained, tokenizer):
    from synthlib.decoding import DecodingSettings

    result = sample(untrained, tokenizer, DICTIONARY, 64, batch_size=64, settings=DecodingSettings(temperature=3.0),
                    progress=False)
    assert result.n_valid == result.n_generated
    validate_table(result.synthetic, DICTIONARY.subset(DICTIONARY.modelled_columns))


@pytest.mark.slow
def test_conditions_hold_in_every_row(untrained, tokenizer):
    conditions = {
        "pain": "pain is mild, intermittent",
        "sbp (mmHg)": (150, None),
        "diagnosis": ["Ménière", "Mèniere"],
        "visit": ("2020-06-01", "2020-06-30"),
        "ldl": None,
    }
    synthetic = sample(untrained, tokenizer, DICTIONARY, 100, batch_size=50, conditions=conditions,
                       progress=False).synthetic
    assert len(synthetic) == 100
    assert (synthetic["pain"] == "pain is mild, intermittent").all()
    assert synthetic["sbp (mmHg)"].notna().all()
    assert (synthetic["sbp (mmHg)"] >= 150).all()
    assert synthetic["diagnosis"].isin(["Ménière", "Mèniere"]).all()
    assert synthetic["visit"].between(pd.Timestamp("2020-06-01"), pd.Timestamp("2020-06-30")).all()
    assert synthetic["ldl"].isna().all()


def test_conditioned_columns_come_first(tokenizer):
    constraints = RowConstraints(tokenizer, column_grammars(DICTIONARY, {"smoker": 1, "pain": "none"}), first=["smoker", "pain"])
    for seed in range(5):
        order = constraints.column_order(np.random.default_rng(seed))
        assert set(order[:2]) == {"smoker", "pain"}
        assert sorted(order) == sorted(DICTIONARY.modelled_columns)


@pytest.mark.slow
def test_special_name_and_level_round_trip(untrained, tokenizer):
    synthetic = sample(untrained, tokenizer, DICTIONARY, 40, batch_size=40, random_state=3, progress=False,
                       conditions={"pain": "pain is mild, intermittent"}).synthetic
    texts = encode_table(synthetic, DICTIONARY, permute=True, random_state=0)
    assert all("sbp (mmHg) is " in text for text in texts)
    assert all("pain is pain is mild\\, intermittent" in text for text in texts)
    parsed = parse_rows(texts, DICTIONARY)
    assert not parsed.rejections
    assert (parsed.values["pain"] == "pain is mild, intermittent").all()
    assert parsed.values["sbp (mmHg)"].notna().any()


@pytest.mark.slow
def test_impute_keeps_given_cells(untrained, tokenizer):
    partial = make_table(60, random_state=5)
    rng = np.random.default_rng(0)
    for name in ["sbp (mmHg)", "pain", "ldl", "visit", "diagnosis"]:
        partial.loc[rng.random(len(partial)) < 0.4, name] = None
    partial.index = partial.index * 10
    given_cells = partial.notna()

    imputed = impute(untrained, tokenizer, DICTIONARY, partial, batch_size=32, progress=False)

    assert imputed.index.equals(partial.index)
    assert imputed[DICTIONARY.modelled_columns].notna().all().all()
    for name in DICTIONARY.modelled_columns:
        given_rows = given_cells[name]
        pd.testing.assert_series_equal(imputed.loc[given_rows, name], partial.loc[given_rows, name], check_dtype=False)
    pd.testing.assert_series_equal(imputed["id"], partial["id"])
    validate_table(imputed, DICTIONARY)


@pytest.mark.slow
def test_impute_invalid_given_cell_raises(untrained, tokenizer):
    partial = make_table(3)
    partial["sbp (mmHg)"] = partial["sbp (mmHg)"].astype(object)
    partial.loc[1, "sbp (mmHg)"] = "high"
    with pytest.raises(DataValidationError, match=r"partial row 1: not a number in column sbp \(mmHg\)"):
        impute(untrained, tokenizer, DICTIONARY, partial, progress=False)


MISSING_DICTIONARY = DataDictionary(
    "missing",
    (
        ColumnSpec("ldl", "numeric", range=(0, 10), decimals=1),
        ColumnSpec("sex", "categorical", levels=("female", "male")),
        ColumnSpec("smoker", "binary"),
    ),
)


def missing_table(n_rows=400, random_state=0):
    """Rows with LDL-C missing in about 25% and sex in about 10% of the rows."""
    rng = np.random.default_rng(random_state)
    ldl = rng.normal(3, 1, n_rows).clip(0, 10).round(1)
    ldl[rng.random(n_rows) < 0.25] = np.nan
    sex = np.where(rng.random(n_rows) < 0.1, None, rng.choice(["female", "male"], n_rows))
    return pd.DataFrame(
        {
            "ldl": ldl,
            "sex": pd.Categorical(sex, categories=["female", "male"]),
            "smoker": pd.array(rng.integers(0, 2, n_rows), dtype="Int64"),
        }
    )


@pytest.mark.slow
def test_missing_rate_near_training_rate(tmp_path):
    train = missing_table()
    texts = encode_table(train, MISSING_DICTIONARY)
    row_tokenizer = train_row_tokenizer(texts, vocab_size=300)
    model = build_scratch_model(row_tokenizer, ScratchModelConfig(n_layer=2, n_embd=64, n_head=2), texts)
    settings = TrainingSettings(epochs=8, batch_size=16, learning_rate=3e-3, logging_steps=50)
    fine_tune(model, row_tokenizer, train, MISSING_DICTIONARY, tmp_path / "model", settings, progress=False)

    synthetic = sample(model.eval(), row_tokenizer, MISSING_DICTIONARY, 1000, batch_size=250, progress=False).synthetic

    for name in ["ldl", "sex"]:
        real_rate = train[name].isna().mean()
        synthetic_rate = synthetic[name].isna().mean()
        # Three binomial standard errors of the synthetic rate at n = 1000, plus 0.03 for the
        # briefly trained model's own error.
        tolerance = 3 * np.sqrt(real_rate * (1 - real_rate) / len(synthetic)) + 0.03
        assert abs(synthetic_rate - real_rate) < tolerance, (name, real_rate, synthetic_rate)


@pytest.mark.slow
def test_sampling_is_reproducible_under_conditions(untrained, tokenizer):
    conditions = {"smoker": 1}
    first = sample(untrained, tokenizer, DICTIONARY, 30, batch_size=30, random_state=4, conditions=conditions,
                   progress=False)
    second = sample(untrained, tokenizer, DICTIONARY, 30, batch_size=30, random_state=4, conditions=conditions,
                    progress=False)
    pd.testing.assert_frame_equal(first.synthetic, second.synthetic)
    assert (first.synthetic["smoker"] == 1).all()


def test_complete_columns_never_take_the_marker():
    grammars = column_grammars(DICTIONARY, complete_columns=["smoker", "ldl"])
    assert not grammars["smoker"].accepts(MISSING_MARKER.encode())
    assert not grammars["ldl"].accepts(MISSING_MARKER.encode())
    assert grammars["pain"].accepts(MISSING_MARKER.encode())


def test_complete_columns_lists_columns_without_missing_values():
    data = pd.DataFrame({"a": [1, 2], "b": [1, None], "c": ["x", "y"]})
    assert complete_columns(data) == ["a", "c"]


def test_complete_columns_unknown_name_raises():
    with pytest.raises(ConditionError, match="complete_columns name column 'smokr'.*did you mean 'smoker'"):
        column_grammars(DICTIONARY, complete_columns=["smokr"])
