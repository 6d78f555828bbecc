"""Tests of synthlib.missing_rates: offsets that hold sampled missing rates at training rates."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from synthlib.constraints import LevelGrammar, ValueMask, column_grammar, token_table
from synthlib.dictionary import ColumnSpec
from synthlib.encoding import MISSING_MARKER, encode_table
from synthlib.missing_rates import MissingRateCalibrator, training_missing_rates
from synthlib.models import train_row_tokenizer
from test_constraints import DICTIONARY, make_table


def simulated_batch(calibrator, log_odds: dict, rng, coupling=0.0) -> pd.DataFrame:
    """Draw one batch from a stand-in model: row i misses column c with expit(log_odds[c][i] + offset).

    With ``coupling``, a row that misses the first column misses the others with higher log-odds,
    as columns measured together are missing together.
    """
    names = list(log_odds)
    n_rows = len(log_odds[names[0]])
    table = {}
    first_missing = np.zeros(n_rows, dtype=bool)
    for k, name in enumerate(names):
        shift = coupling * first_missing if k else 0.0
        missing = rng.random(n_rows) < expit(log_odds[name] + shift + calibrator.offsets[name])
        if k == 0:
            first_missing = missing
        table[name] = np.where(missing, np.nan, 1.0)
    return pd.DataFrame(table)


def run_calibrator(targets, own_rates, n_batches=40, batch_size=256, coupling=0.0, random_state=0):
    rng = np.random.default_rng(random_state)
    calibrator = MissingRateCalibrator(targets)
    frames = []
    for _ in range(n_batches):
        # Row log-odds vary around the model's own rate, as they do in a fitted model.
        log_odds = {name: logit(rate) + rng.normal(0, 1.0, batch_size) for name, rate in own_rates.items()}
        batch = simulated_batch(calibrator, log_odds, rng, coupling)
        calibrator.update(batch)
        frames.append(batch)
    return calibrator, pd.concat(frames, ignore_index=True)


def test_rates_skip_complete_columns():
    train = pd.DataFrame({"a": [1.0, np.nan, 3.0, np.nan], "b": [1, 2, 3, 4], "c": [np.nan] * 4})
    assert training_missing_rates(train, ["a", "b", "c", "absent"]) == {"a": 0.5, "c": 1.0}


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, 1.5])
def test_invalid_target_names_column(rate):
    with pytest.raises(ValueError, match="'sbp \\(mmHg\\)'.*strictly between 0 and 1"):
        MissingRateCalibrator({"sbp (mmHg)": rate})


def test_offsets_start_at_zero():
    calibrator = MissingRateCalibrator({"a": 0.2, "b": 0.01})
    assert calibrator.offsets == {"a": 0.0, "b": 0.0}
    assert calibrator.rates()["sampled"].isna().all()


@pytest.mark.parametrize(
    "targets, own_rates",
    [
        ({"sbp": 0.31, "ldl": 0.054}, {"sbp": 0.36, "ldl": 0.038}),  # the SMART gaps before calibration
        ({"sbp": 0.31, "ldl": 0.054}, {"sbp": 0.15, "ldl": 0.15}),  # a model far from the targets
        ({"rare": 0.004}, {"rare": 0.008}),  # a rarely missing column
    ],
)
def test_total_rate_within_one_point(targets, own_rates):
    calibrator, rows = run_calibrator(targets, own_rates)
    for name, target in targets.items():
        assert abs(rows[name].isna().mean() - target) < 0.01, name
    table = calibrator.rates().set_index("column")
    assert np.allclose(table["sampled"], rows.isna().mean()[table.index])


def test_coupled_columns_converge():
    # A row missing "total" misses "hdl" with log-odds raised by 4: raising one offset moves both rates.
    targets = {"total": 0.05, "hdl": 0.07}
    _, rows = run_calibrator(targets, {"total": 0.02, "hdl": 0.02}, coupling=4.0, random_state=3)
    for name, target in targets.items():
        assert abs(rows[name].isna().mean() - target) < 0.01, name


def test_calibrated_model_keeps_small_offsets():
    calibrator, _ = run_calibrator({"a": 0.3}, {"a": 0.3}, random_state=1)
    assert abs(calibrator.offsets["a"]) < 0.5


def test_offset_steps_and_bounds():
    calibrator = MissingRateCalibrator({"a": 0.5}, max_offset=1.2, max_step=0.5)
    history = []
    for _ in range(5):
        calibrator.update(pd.DataFrame({"a": np.ones(100)}))  # never missing: push the offset up
        history.append(calibrator.offsets["a"])
    assert history == pytest.approx([0.5, 1.0, 1.2, 1.2, 1.2])


def test_empty_batch_changes_nothing():
    calibrator = MissingRateCalibrator({"a": 0.5})
    calibrator.update(pd.DataFrame({"a": []}))
    assert calibrator.offsets == {"a": 0.0}


def test_rare_column_small_offset():
    # 256 rows of a column missing in 0.4% of training rows often contain no missing value.
    # The prior of five missing values keeps such batches from driving the offset to its bound.
    calibrator, rows = run_calibrator({"rare": 0.004}, {"rare": 0.004}, random_state=2)
    assert abs(calibrator.offsets["rare"]) < 1.5
    assert abs(rows["rare"].isna().mean() - 0.004) < 0.01


# --- Marker tokens -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    return train_row_tokenizer(encode_table(make_table(), DICTIONARY), vocab_size=400)


def test_marker_tokens_start_marker(tokenizer):
    table = token_table(tokenizer)
    spec = ColumnSpec("ldl", "numeric", range=(0, 400), decimals=1)
    mask = ValueMask(column_grammar(spec), table)
    marker = mask.marker_tokens(b"")
    assert marker is not None
    ids = mask.candidate_ids[marker].tolist()
    assert ids, "some token must start the marker"
    for token in ids:
        data = table.token_bytes[token]
        assert (b" " + MISSING_MARKER.encode()).startswith(data)
        assert data.strip() != b""
    # The end-of-sequence token never commits to the marker.
    assert not bool(marker[-1])
    # Once the text is the start of the marker, or of a number, the choice is made.
    assert mask.marker_tokens(b" <") is None
    assert mask.marker_tokens(b" 1") is None


def test_no_marker_tokens_without_missing_values(tokenizer):
    table = token_table(tokenizer)
    spec = ColumnSpec("ldl", "numeric", range=(0, 400), decimals=1)
    assert ValueMask(column_grammar(spec, allow_missing=False), table).marker_tokens(b"") is None
    assert ValueMask(LevelGrammar(["a"]), table).marker_tokens(b"") is None


def test_marker_like_level_is_escaped(tokenizer):
    # The encoder writes a level "<5 mg" as "\\<5 mg", so " <" can only start the marker.
    table = token_table(tokenizer)
    spec = ColumnSpec("dose", "categorical", levels=("<5 mg", "5 mg"))
    mask = ValueMask(column_grammar(spec), table)
    committed = [table.token_bytes[token] for token in mask.candidate_ids[mask.marker_tokens(b"")].tolist()]
    assert b" <" in committed
    assert not any(data.startswith(b" \\") or data.startswith(b" 5") for data in committed)
    assert mask.marker_tokens(b" \\") is None
    assert mask.marker_tokens(b" <") is None
