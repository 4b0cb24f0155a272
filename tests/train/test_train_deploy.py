"""nnb eval on .nnp / .nnq / .nnb with both backends, and DQ's budget floor (fast: tiny data)."""

from __future__ import annotations

from train_helpers import LENET, TEST_2K

from nnb.cli import main


def _acc(capsys) -> str:  # noqa: ANN001
    out = capsys.readouterr().out
    return out.split("top-1 accuracy: ")[1].split()[0]


def test_eval_nnp_nnq_nnb(tmp_path, capsys) -> None:
    nnq = str(tmp_path / "q.nnq")
    assert main(["quantize", LENET, "--method", "lutq", "--k", "4", "--data", TEST_2K, "--limit", "128",
                 "--epochs", "1", "-q", "-o", nnq, "--val", "none"]) == 0
    capsys.readouterr()
    nnb = str(tmp_path / "f.nnb")
    assert main(["convert", LENET, "-o", nnb]) == 0
    capsys.readouterr()
    assert main(["eval", LENET, "--data", TEST_2K, "--limit", "300"]) == 0
    float_acc = _acc(capsys)
    assert main(["eval", nnb, "--data", TEST_2K, "--limit", "300"]) == 0
    assert _acc(capsys) == float_acc
    assert main(["eval", nnb, "--data", TEST_2K, "--limit", "300", "--backend", "c", "--confusion"]) == 0
    assert _acc(capsys) == float_acc
    assert main(["eval", nnq, "--data", TEST_2K, "--limit", "300"]) == 0
    q_acc = _acc(capsys)
    # the packed NNB of the .nnq, through the reference
    from nnb.emit.convert import convert

    packed = str(tmp_path / "q.nnb")
    with open(packed, "wb") as f:
        f.write(convert(nnq).image)
    assert main(["eval", packed, "--data", TEST_2K, "--limit", "300"]) == 0
    assert _acc(capsys) == q_acc


def test_eval_c_backend_refuses_packed_in_one_line(tmp_path, capsys) -> None:
    nnq = str(tmp_path / "q.nnq")
    assert main(["quantize", LENET, "--method", "dq", "--bits", "3", "--data", TEST_2K, "--limit", "64",
                 "--epochs", "1", "-q", "-o", nnq, "--val", "none"]) == 0
    capsys.readouterr()
    rc = main(["eval", nnq, "--data", TEST_2K, "--limit", "10", "--backend", "c"])
    err = capsys.readouterr().err
    if rc == 0:  # the C runtime has learnt packed weights
        return
    assert rc == 2 and err.count("\n") == 1 and "C runtime" in err and "--backend reference" in err


def test_weight_budget_below_two_bits(capsys, tmp_path) -> None:  # noqa: ANN001
    # -o is writable: output paths are checked first, so the budget is what gets refused
    rc = main(["quantize", LENET, "--method", "dq", "--weight-budget", "5kB", "--data", TEST_2K, "--limit", "64",
               "-q", "-o", str(tmp_path / "x.nnq")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "minimum 11.38 kB" in err and "93216 bit" in err
    assert not (tmp_path / "x.nnq").exists()


def test_weight_budget_at_two_bits_is_fine() -> None:
    import numpy as np

    from nnb.quantize.dq import DqConfig, DqHook, parse_size

    w = {"a": np.ones(45608), "b": np.ones(1000)}
    h = DqHook(w, ["a", "b"], DqConfig(budget_kb=parse_size("93216bit")))
    assert h.within_budget() and {q.bits for q in h.layers.values()} == {2}
