"""`dscref reproduce`, `dscref demo`, `dscref build` and `dscref query` on the experiments' tiny data."""

import numpy as np

from dscref.cli import main


def test_cli_reproduce_and_demo(tmp_path, capsys):
    rc = main(["reproduce", "fig2", "--scale", "2000", "--dim", "32", "--labels", "200", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "head size for 90% recall" in out and (tmp_path / "fig2" / "results.json").exists()
    # the PNG is part of the job on the main install (matplotlib is a core dependency)
    assert (tmp_path / "fig2" / "fig2.png").is_file() and "fig2.png" in out
    rc = main(["demo", "--n", "2k", "--snr", "3,20", "--show", "1"])
    cap = capsys.readouterr()
    out = cap.out
    assert rc == 0 and "47 bytes" in out and "mAP" in out
    # each example shows the head sent and the head received, and its bit errors
    examples = [line for line in out.splitlines() if line.strip().startswith("q0: ")]
    assert len(examples) == 2 and all("head sent" in e and "-> received" in e and "in the head)" in e
                                      for e in examples)
    # progress only on stderr, results only on stdout
    assert "\r" not in out and "mAP" not in cap.err
    assert main(["reproduce", "fig2", "--data", "nonsense"]) == 2


def test_cli_build_and_query(tmp_path, tiny, capsys):
    np.save(tmp_path / "xb.npy", np.asarray(tiny.xb))
    np.save(tmp_path / "labels.npy", tiny.labels_b[:, None])
    np.save(tmp_path / "xq.npy", tiny.xq[:3])
    np.save(tmp_path / "heads.npy", tiny.ranking_q[:3, :5])
    idx = tmp_path / "ix.dscidx"
    assert main(["build", str(tmp_path / "xb.npy"), "--labels", str(tmp_path / "labels.npy"),
                 "--lists", "200", "--out", str(idx)]) == 0
    assert idx.exists() and "built dsc index of 3000 items" in capsys.readouterr().out
    assert main(["query", str(idx), str(tmp_path / "xq.npy"), "--labels", str(tmp_path / "heads.npy"),
                 "--k", "5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    headers = [line for line in out if line.startswith("query ")]
    assert len(headers) == 3 and all("45 bytes" in line and "top-5" in line for line in headers)
    # the query's own landmark comes back: first result is a ground-truth positive for most
    firsts = [int(out[out.index(h) + 2].split()[1]) for h in headers]  # header, column names, rank 1
    assert sum(f in set(tiny.gnd[i]["ok"].tolist()) for i, f in enumerate(firsts)) >= 2
    assert main(["query", str(idx), str(tmp_path / "xq.npy"), "--labels", str(tmp_path / "heads.npy"),
                 "--snr", "3"]) == 0
    assert "bit errors" in capsys.readouterr().out
    assert main(["build", str(tmp_path / "xb.npy"), "--out", str(tmp_path / "x")]) == 2  # dsc needs labels
