"""The package dscref.channel keeps the public names of the former module dscref.channel: every
old import path works and names the object defined in the submodule that now holds it."""

import importlib

import pytest

from dscref import channel as ch

# dscref.channel.__all__ before the module became a package, with the submodule now holding each
OLD_NAMES = {
    "SNR_DB_RANGE": "models", "GAIN_RANGE": "models", "AWGN": "models", "RayleighBlock": "models",
    "snr_to_noise_var": "models", "ebn0_to_esn0": "models", "esn0_to_ebn0": "models",
    "Modem": "modem",
    "AnalogResult": "transmit", "SymbolResult": "transmit", "BitResult": "transmit",
    "transmit_analog": "transmit", "transmit_symbols": "transmit", "transmit_bits": "transmit",
    "channel_uses": "transmit", "bandwidth_table": "transmit",
    "ber_bpsk": "theory", "ber_qpsk": "theory", "ber_16qam": "theory", "ber_bpsk_rayleigh": "theory",
}


def test_all_keeps_every_old_name():
    assert set(OLD_NAMES) <= set(ch.__all__)
    assert len(ch.__all__) == len(set(ch.__all__))
    for name in ch.__all__:
        assert hasattr(ch, name), name


@pytest.mark.parametrize("name, module", sorted(OLD_NAMES.items()))
def test_old_import_path_names_the_submodule_object(name, module):
    exec(f"from dscref.channel import {name} as obj", globals(), ns := {})
    sub = importlib.import_module(f"dscref.channel.{module}")
    assert ns["obj"] is getattr(sub, name)
    assert name in sub.__all__


def test_submodules_declare_all():
    for module in ("models", "modem", "transmit", "theory"):
        sub = importlib.import_module(f"dscref.channel.{module}")
        assert sub.__doc__ and sub.__all__, module
        for name in sub.__all__:
            assert getattr(ch, name) is getattr(sub, name), (module, name)


def test_modem_names():
    assert ch.MODEM_NAMES == ("bpsk", "qpsk", "16qam", "64qam", "256qam")
    assert [ch.Modem(m).name for m in ch.MODEM_NAMES] == list(ch.MODEM_NAMES)
