"""The greeting step's work: no Microsoft call, so the test shows the folder's plumbing alone."""

from tests.steps.test_only.greeting.result import GreetingResult
from wizard.outcomes import Done, Outcome, StepContext


def greeting_for(name: str, shout: bool) -> str:
    text = f"Hello, {name}"
    return text.upper() + "!" if shout else text + "."


def perform(ctx: StepContext) -> Outcome:
    ctx.progress(50, "Greeting")
    return Done(GreetingResult(greeting=greeting_for(ctx.inputs["name"], ctx.inputs["shout"])).to_json())
