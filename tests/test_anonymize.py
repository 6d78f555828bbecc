"""Tests of classical anonymization (synthlib.anonymize, .hierarchies, .microaggregation) and the privacy-utility plane."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from synthlib import study, tradeoff  # noqa: E402
from synthlib.anonymize import (  # noqa: E402
    DEFAULT_SETTINGS,
    AnonymizationSetting,
    anonymity_levels,
    anonymization_report,
    anonymize,
    anonymize_all,
    load_anonymized,
    verify_with_pycanon,
    write_anonymized,
)
from synthlib.artifacts import RunPaths  # noqa: E402
from synthlib.dictionary import ColumnSpec, DataDictionary  # noqa: E402
from synthlib.exceptions import ConfigError  # noqa: E402
from synthlib.hierarchies import build_hierarchy, nice_widths  # noqa: E402
from synthlib.microaggregation import add_noise, mdav_groups  # noqa: E402
from synthlib.pipeline import REPO_ROOT, execute_notebook, write_summary  # noqa: E402
from synthlib.plots.privacy import plot_privacy_utility  # noqa: E402

pytest.importorskip("pycanon")

SAMS_DICTIONARY = REPO_ROOT / "data_templates" / "sams_cohort.yaml"
SMART_DICTIONARY = REPO_ROOT / "data_templates" / "smart.yaml"
GENERALIZATION = [s for s in DEFAULT_SETTINGS if s.method == "generalization"]

COHORT = DataDictionary(
    name="cohort",
    columns=(
        ColumnSpec("age", "integer", range=(18, 100), role="quasi_identifier"),
        ColumnSpec("sex", "categorical", levels=("F", "M"), role="quasi_identifier"),
        ColumnSpec("bmi", "numeric", range=(12, 70), decimals=1, role="quasi_identifier"),
        ColumnSpec("visit", "date", role="quasi_identifier"),
        ColumnSpec("diabetes", "binary", role="sensitive"),
        ColumnSpec("ldl", "numeric", decimals=1),
    ),
)


def _cohort(n_rows, random_state=0):
    rng = np.random.default_rng(random_state)
    missing = rng.random(n_rows) < 0.05
    return pd.DataFrame({
        "age": pd.array(rng.integers(30, 90, n_rows), dtype="Int64"),
        "sex": pd.Categorical(rng.choice(["F", "M"], n_rows), categories=("F", "M")),
        "bmi": pd.Series(rng.normal(27, 4, n_rows).round(1)).mask(missing),
        "visit": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, n_rows), unit="D"),
        "diabetes": pd.array(rng.binomial(1, 0.3, n_rows), dtype="Int64"),
        "ldl": rng.normal(3, 1, n_rows).round(1),
    })


# ---------------------------------------------------------------- hierarchies


def test_nice_widths_for_ages():
    # Ages 19-82 span 64 one-year steps. The targets 2, 4, 8, 16 and 32 round to 2, 5, 10, 20
    # and 50 (32 is nearer 50 than 20 on a log scale); 100 is the first width covering 64.
    assert nice_widths(64) == [2, 5, 10, 20, 50, 100]


def test_nice_widths_end_covering_span():
    assert nice_widths(7)[-1] >= 7


def test_hierarchy_interval_middle_and_missing():
    spec = ColumnSpec("age", "integer", range=(18, 100))
    series = pd.Series(pd.array([41, 44, 45, 99, None], dtype="Int64"))
    levels = build_hierarchy(series, spec, widths=[5])
    values = levels[1].values
    assert values.dtype == series.dtype
    # Intervals 40-44 and 45-49 have middles 42 and 47; 95-99 gives 97.
    assert values.iloc[:4].tolist() == [42, 42, 47, 97]
    assert pd.isna(values.iloc[4])
    assert levels[1].codes[0] == levels[1].codes[1]
    assert len(set(levels[1].codes)) == 4


def test_hierarchy_middle_clipped_to_range():
    spec = ColumnSpec("age", "integer", range=(18, 100))
    values = build_hierarchy(pd.Series(pd.array([100], dtype="Int64")), spec, widths=[20])[1].values
    # Interval 100-119 would have middle 109, above the declared maximum.
    assert values.iloc[0] == 100


def test_hierarchy_categorical_star_is_missing():
    spec = ColumnSpec("sex", "categorical", levels=("F", "M"))
    levels = build_hierarchy(pd.Series(pd.Categorical(["F", "M"], categories=("F", "M"))), spec)
    assert [level.label for level in levels] == ["exact", "*"]
    assert levels[1].values.isna().all()
    assert str(levels[1].values.dtype) == "category"


def test_hierarchy_widths_on_categorical_raise():
    spec = ColumnSpec("sex", "categorical", levels=("F", "M"))
    with pytest.raises(ConfigError, match="without widths"):
        build_hierarchy(pd.Series(pd.Categorical(["F"], categories=("F", "M"))), spec, widths=[2])


def test_hierarchy_dates_keep_dtype():
    spec = ColumnSpec("visit", "date")
    series = pd.Series(pd.to_datetime(["2020-01-10", "2020-02-05", None]))
    values = build_hierarchy(series, spec, widths=[30])[1].values
    assert values.dtype == series.dtype
    # Intervals of 30 days count from 1970-01-01: days 18270-18299 run from 2020-01-09 to 2020-02-07.
    assert values.iloc[0] == pd.Timestamp("2020-01-23")
    assert values.iloc[1] == pd.Timestamp("2020-01-23")
    assert pd.isna(values.iloc[2])


# ---------------------------------------------------------------- k-anonymity and l-diversity


@pytest.mark.parametrize("k", [2, 5, 10])
def test_generalization_reaches_k(k):
    result = anonymize(_cohort(400), COHORT, AnonymizationSetting(f"k{k}", "generalization", k=k))
    assert result.k >= k
    assert verify_with_pycanon(result.table, result.quasi_identifiers)["k"] == result.k
    assert result.suppression_rate <= 0.05


def test_generalization_keeps_columns_and_dtypes():
    table = _cohort(300)
    result = anonymize(table, COHORT, AnonymizationSetting("k5", "generalization", k=5))
    assert list(result.table.columns) == list(table.columns)
    assert result.table.dtypes.equals(table.dtypes)
    assert result.n_removed == 0
    pd.testing.assert_series_equal(result.table["ldl"], table["ldl"])


def test_l_diversity_reached():
    setting = AnonymizationSetting("k5_l2", "generalization", k=5, l=2)
    result = anonymize(_cohort(400), COHORT, setting)
    checked = verify_with_pycanon(result.table, result.quasi_identifiers, result.sensitive)
    assert checked["l"] >= 2
    assert checked == {"k": result.k, "l": result.l}


def test_missing_quasi_identifier_is_own_class():
    table = pd.DataFrame({
        "age": pd.array([50, 50, None, None], dtype="Int64"),
        "sex": pd.Categorical(["F"] * 4, categories=("F", "M")),
    })
    assert anonymity_levels(table, ["age", "sex"])["k"] == 2
    assert verify_with_pycanon(table, ["age", "sex"])["k"] == 2


def test_suppressed_rows_get_blank_quasi_identifiers():
    dictionary = COHORT.subset(["age", "sex", "ldl"])
    table = pd.DataFrame({
        "age": pd.array([40] * 6 + [41, 77, 90], dtype="Int64"),
        "sex": pd.Categorical(["F"] * 6 + ["M", "F", "M"], categories=("F", "M")),
        "ldl": np.arange(9, dtype=float),
    })
    setting = AnonymizationSetting("k3", "generalization", k=3, max_suppression=0.4)
    result = anonymize(table, dictionary, setting, hierarchies={"age": [100]})
    # The three odd rows form the suppressed class: blank quasi-identifiers, other columns kept.
    assert result.n_suppressed == 3
    blank = result.table[result.table["sex"].isna()]
    assert blank["age"].isna().all()
    assert sorted(blank["ldl"]) == [6.0, 7.0, 8.0]
    assert result.k == 3


def test_suppressed_class_below_k_is_removed():
    dictionary = COHORT.subset(["age", "sex", "ldl"])
    table = pd.DataFrame({
        "age": pd.array([40] * 6 + [77], dtype="Int64"),
        "sex": pd.Categorical(["F"] * 6 + ["M"], categories=("F", "M")),
        "ldl": np.arange(7, dtype=float),
    })
    setting = AnonymizationSetting("k3", "generalization", k=3, max_suppression=0.2)
    result = anonymize(table, dictionary, setting, hierarchies={"age": [100]})
    assert (result.n_suppressed, result.n_removed) == (0, 1)
    assert len(result.table) == 6
    assert result.suppression_rate == pytest.approx(1 / 7)


def test_table_smaller_than_k_raises():
    with pytest.raises(ConfigError, match="fewer than k=10"):
        anonymize(_cohort(5), COHORT, AnonymizationSetting("k10", "generalization", k=10))


def test_l_without_sensitive_raises():
    with pytest.raises(ConfigError, match="no sensitive column"):
        anonymize(_cohort(50), COHORT, AnonymizationSetting("k2_l2", "generalization", k=2, l=2), sensitive=[])


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"name": "bad name", "method": "noise", "noise_scale": 0.1}, "letters"),
        ({"name": "x", "method": "shuffle"}, "method"),
        ({"name": "x", "method": "generalization", "k": 1}, "k of at least 2"),
        ({"name": "x", "method": "generalization", "k": 2, "l": 1}, "l must be"),
        ({"name": "x", "method": "noise"}, "noise_scale"),
        ({"name": "x", "method": "generalization", "k": 2, "max_suppression": 2}, "max_suppression"),
    ],
)
def test_setting_validation(arguments, message):
    with pytest.raises(ConfigError, match=message):
        AnonymizationSetting(**arguments)


# ---------------------------------------------------------------- MDAV and noise


def test_mdav_groups_two_clusters():
    points = np.array([[1.0], [2.0], [3.0], [10.0], [11.0], [12.0]])
    groups = mdav_groups(points, k=3)
    assert len(set(groups[:3])) == 1
    assert len(set(groups[3:])) == 1
    assert groups[0] != groups[3]


@pytest.mark.parametrize("n_rows", [3, 7, 20, 101])
def test_mdav_group_sizes(n_rows):
    points = np.random.default_rng(n_rows).normal(size=(n_rows, 2))
    sizes = np.bincount(mdav_groups(points, k=3))
    assert sizes.min() >= 3
    assert sizes.max() <= 5


def test_microaggregation_reaches_k():
    result = anonymize(_cohort(300), COHORT, AnonymizationSetting("mdav5", "microaggregation", k=5))
    assert result.k >= 5
    assert verify_with_pycanon(result.table, result.quasi_identifiers)["k"] == result.k


def test_noise_seeded_and_in_range():
    table = _cohort(200)
    first = add_noise(table, COHORT, ["age", "bmi", "visit"], scale=0.5, random_state=1)
    second = add_noise(table, COHORT, ["age", "bmi", "visit"], scale=0.5, random_state=1)
    pd.testing.assert_series_equal(first["bmi"], second["bmi"])
    assert first["age"].between(18, 100).all()
    assert first["bmi"].isna().equals(table["bmi"].isna())
    assert first["age"].dtype == table["age"].dtype


def test_noise_changes_values():
    table = _cohort(200)
    result = anonymize(table, COHORT, AnonymizationSetting("noise30", "noise", noise_scale=0.3))
    assert (result.table["bmi"] != table["bmi"]).sum() > 150
    assert result.suppression_rate == 0.0


# ---------------------------------------------------------------- real and simulated cohorts


@pytest.fixture(scope="module")
def smart_train():
    pytest.importorskip("SurvSet")
    from synthlib.data import train_holdout_split

    real, dictionary, _ = study.load_real_data("smart", SMART_DICTIONARY)
    modelled = dictionary.subset(dictionary.modelled_columns)
    train, _ = train_holdout_split(real[modelled.names], holdout_fraction=0.2, random_state=0)
    return train, modelled


@pytest.mark.parametrize("setting", GENERALIZATION, ids=lambda s: s.name)
def test_pycanon_confirms_k_on_smart(smart_train, setting):
    train, dictionary = smart_train
    result = anonymize(train, dictionary, setting)
    checked = verify_with_pycanon(result.table, result.quasi_identifiers, result.sensitive)
    assert checked["k"] >= setting.k
    assert checked["k"] == result.k
    if setting.l is not None:
        assert checked["l"] >= setting.l


@pytest.mark.parametrize("setting", GENERALIZATION, ids=lambda s: s.name)
def test_pycanon_confirms_k_on_sams(setting):
    real, dictionary, _ = study.load_real_data("sams_cohort", SAMS_DICTIONARY, n_rows=800)
    modelled = dictionary.subset(dictionary.modelled_columns)
    result = anonymize(real[modelled.names], modelled, setting)
    checked = verify_with_pycanon(result.table, result.quasi_identifiers, result.sensitive)
    assert checked["k"] >= setting.k
    if setting.l is not None:
        assert checked["l"] >= setting.l


# ---------------------------------------------------------------- run folder


def test_write_and_load_anonymized(tmp_path):
    table = _cohort(120)
    results = anonymize_all(table, COHORT, settings=DEFAULT_SETTINGS[:2] + DEFAULT_SETTINGS[-1:])
    report = anonymization_report(results)
    write_anonymized(results, tmp_path, report)
    loaded = load_anonymized(tmp_path)
    assert list(loaded) == ["k2", "k5", "noise30"]
    pd.testing.assert_frame_equal(loaded["k5"], results["k5"].table)
    index = json.loads((tmp_path / "anonymized" / "settings.json").read_text())
    assert index["tables"][1]["k_pycanon"] == results["k5"].k


def test_load_anonymized_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook 05_privacy"):
        load_anonymized(tmp_path)


def test_duplicate_setting_names_raise():
    setting = AnonymizationSetting("k2", "generalization", k=2)
    with pytest.raises(ConfigError, match="unique"):
        anonymize_all(_cohort(20), COHORT, settings=(setting, setting))


# ---------------------------------------------------------------- privacy-utility plane


def _points():
    return pd.DataFrame({
        "label": ["synthetic (run)", "k2", "k10", "noise10"],
        "kind": ["synthetic", "anonymized", "anonymized", "anonymized"],
        "membership_inference_auc": [0.52, 0.95, 0.90, 1.0],
        "attribute_inference_risk": [0.01, 0.2, 0.05, 0.3],
        "quality_score": [0.90, 0.95, 0.85, 0.99],
    })


def test_compare_methods_finds_winner():
    verdict = tradeoff.compare_methods(_points())
    # Distances to (no advantage, quality 1): synthetic hypot(0.04, 0.10), k10 hypot(0.8, 0.15).
    assert verdict["distance_to_ideal"]["synthetic (run)"] == pytest.approx(np.hypot(0.04, 0.10))
    assert verdict["distance_to_ideal"]["k10"] == pytest.approx(np.hypot(0.8, 0.15))
    assert verdict["winners"] == ["synthetic (run)"]
    assert verdict["dominated"]["synthetic (run)"] == ["k10"]
    assert verdict["pareto_front"] == ["synthetic (run)", "k2", "noise10"]
    assert verdict["synthetic_dominates"] == 1
    assert verdict["sentence"].startswith("On this data synthetic (run) (synthetic) wins")


def test_compare_methods_auc_below_half_counts_as_half():
    points = _points().assign(membership_inference_auc=[0.2, 0.5, 0.5, 0.5], quality_score=[0.9, 0.9, 0.8, 0.7])
    verdict = tradeoff.compare_methods(points)
    assert "k2" not in verdict["dominated"]["synthetic (run)"]
    assert "k10" in verdict["dominated"]["synthetic (run)"]
    assert verdict["winners"] == ["synthetic (run)", "k2"]


def test_compare_methods_other_risk():
    verdict = tradeoff.compare_methods(_points(), risk="attribute_inference_risk")
    assert verdict["distance_to_ideal"]["k10"] == pytest.approx(np.hypot(0.05, 0.15))


def test_plot_privacy_utility_axes():
    fig = plot_privacy_utility(_points())
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_title() == ""
        assert ax.get_xlabel()[0].islower()
    assert len(fig.axes[0].texts) == 4
    plt.close(fig)


def test_plot_privacy_utility_unknown_risk():
    with pytest.raises(ConfigError, match="risks"):
        plot_privacy_utility(_points(), risks=("dcr",))


@pytest.fixture(scope="module")
def toy_run(toy_study_files, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("toy_privacy")
    files = toy_study_files
    study.prepare_data(run_dir, files["csv"], files["dictionary"], holdout_fraction=0.5, random_state=0)
    paths = RunPaths(run_dir)
    # Real rows the model never saw stand in for a synthetic table.
    pd.read_parquet(paths.holdout).to_parquet(paths.synthetic)
    config = {"run_name": "toy_privacy", "random_state": 0, "data": {"source": "toy.csv"}, "model": {"kind": "scratch"}}
    paths.config.write_text(yaml.safe_dump(config))
    return run_dir


def test_evaluate_privacy_utility_writes_points(toy_run):
    report = study.evaluate_privacy_utility(toy_run)
    assert set(report.points["label"]) == {f"synthetic ({toy_run.name})"} | {s.name for s in DEFAULT_SETTINGS}
    assert (report.anonymization["k_pycanon"].dropna() == report.anonymization["k"].dropna()).all()
    assert set(load_anonymized(toy_run)) == {s.name for s in DEFAULT_SETTINGS}
    summary = write_summary(RunPaths(toy_run))
    assert len(summary["privacy_utility_points"]) == len(DEFAULT_SETTINGS) + 1
    assert summary["privacy_utility_winners"] == report.verdict["winners"]


@pytest.mark.slow
def test_privacy_notebook_runs(toy_run, tmp_path):
    target = tmp_path / "05_privacy.ipynb"
    execute_notebook(REPO_ROOT / "notebooks" / "05_privacy.ipynb", target,
                     {"run_dir": str(toy_run), "random_state": 0, "anonymeter_seeds": [0, 1]}, cwd=toy_run)
    text = target.read_text()
    assert "fig-privacy-utility" in text
    assert "wins" in text or "No release wins" in text
    from synthlib.audit import find_real_rows

    assert find_real_rows([target], RunPaths(toy_run)) == []
