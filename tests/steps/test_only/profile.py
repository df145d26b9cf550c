"""A profile for tests only: the list of its step folders."""

from pathlib import Path

from tests.steps.test_only.greeting.step import STEP as GREETING
from wizard.steps.registry import register_profile

PROFILE = "test_only"

STEPS = (GREETING,)

register_profile(PROFILE, STEPS, folder=Path(__file__).parent)
