"""What the study scripts share: the convemerge binary (a refusal is a reason, not an exception) and table cells."""
import json
import subprocess


class Binary:
    def __init__(self, path, work):
        self.path = path
        self.work = work

    def run(self, arguments):
        """(stdout, None) on success, (None, reason) when the command refuses or fails."""
        result = subprocess.run([self.path] + arguments, cwd=self.work, capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout, None
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        return None, (lines[-1] if lines else f"exit status {result.returncode}")

    def json(self, arguments):
        stdout, reason = self.run(arguments)
        return (json.loads(stdout), None) if stdout is not None else (None, reason)


def fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    return f"{x:.{digits}g}"
