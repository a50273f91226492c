"""One error type for bad input, phrased for the person who supplied it."""


class DragAnythingError(ValueError):
    """Bad input: names the input, says what was wrong and how to fix it.

    Raised for anything a user can correct (a malformed trajectory, a wrong weight file, a mask that does not
    fit the image). The message is one paragraph and never needs a traceback to be understood.
    """

    def __init__(self, input_name: str, problem: str, fix: str):
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{input_name}: {problem}. {fix}")
