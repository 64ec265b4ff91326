"""Fig. 3 at tiny scale (seconds): mAP grows with the SNR on every curve."""

import numpy as np

from dscref import experiments as E
from dscref.codec import PayloadLayout


def test_fig3_map_grows_with_snr(tiny, indexes, tmp_path):
    trials = 3
    res = E.fig3(tiny, indexes=indexes, snrs=(-10.0, 0.0, 10.0, 20.0), trials=trials, k=300)
    names = set(res["curves"])
    assert {"analog", "analog+DSC head", "analog+DUC head", "PQ+DSC head (qpsk)", "PQ+DUC head (bpsk)"} <= names
    # the two analog + head curves send the same 7-byte head over QPSK beside the same feature
    assert res["curves"]["analog+DUC head"]["B"] == res["curves"]["analog+DSC head"]["B"] > res["curves"]["analog"]["B"]
    for name, c in res["curves"].items():
        m, s = np.array(c["mAP"]), np.array(c["mAP_std"])
        assert len(m) == 4 and np.all((m >= 0) & (m <= 1))
        slack = 3 * (s[:-1] + s[1:]) / np.sqrt(trials) + 0.02
        assert np.all(np.diff(m) >= -slack), (name, m, s)
        assert c["B"] > 0
    # at 20 dB the digital links are error-free: they equal the noiseless Table-I numbers
    assert res["curves"]["PQ+DSC head (qpsk)"]["ber"][-1] == 0.0
    assert res["curves"]["PQ+DSC head (qpsk)"]["B"] == PayloadLayout.for_index(indexes["dsc"]).nbytes * 8 // 2
    # at 20 dB the heads arrive intact: analog + head searches the feature inside the head's lists
    for key in ("DSC", "DUC"):
        assert res["curves"][f"analog+{key} head"]["ber"][-1] == 0.0
