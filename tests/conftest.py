import os

from hypothesis import HealthCheck, settings

# Bounded example counts keep the suite fast; deadline=None because the first call of a Numba
# kernel compiles it (seconds), which is not a property failure.
settings.register_profile(
    "dscref",
    max_examples=int(os.environ.get("DSCREF_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("dscref")
