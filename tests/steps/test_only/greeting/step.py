"""The greeting step: one folder, declared here."""

from tests.steps.test_only.greeting import service
from tests.steps.test_only.greeting.form import GreetingForm, greeting_inputs
from tests.steps.test_only.greeting.powershell import commands
from tests.steps.test_only.greeting.result import GreetingResult
from wizard.steps.registry import Step

STEP = Step(
    id="greeting",
    result_type=GreetingResult,
    title="Greeting",
    summary="Says hello to the name you give.",
    why="A step defined in one folder, for the test that a new step needs nothing else.",
    perform=service.perform,
    form=GreetingForm,
    save_inputs=greeting_inputs,
    powershell=commands,
)
