import io
import stat
import textwrap
from pathlib import Path

from tools import suite


def test_every_test_file_runs_in_exactly_one_of_the_two_processes():
    first, second = suite.commands("python", ["-x"])
    assert first[:6] == second[:6] == ["python", "-m", "pytest", "--cov=.", "--cov-report=", "-x"]
    assert first[6:] == list(suite.FIRST)
    assert second[6:] == [f"--ignore={path}" for path in suite.FIRST]  # the rest of pytest's own collection
    for path in suite.FIRST:  # a file renamed would be run twice: in the first process's list, and not ignored
        assert (suite.HERE / path).is_file(), path
        assert Path(path).name.startswith("test_") or Path(path).name.endswith("_test.py"), path


def fake_python(tmp_path: Path, first: int, second: int, report: int) -> Path:
    """An interpreter that answers `-m pytest` as a run exiting `first` (with FIRST's files) or `second`, and
    `-m coverage` by exiting `report` for the report, 0 else; each call is logged with its COVERAGE_FILE."""
    script = tmp_path / "python"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "${{COVERAGE_FILE:--}} $*" >> calls
        if [ "$2" = pytest ]; then
          : > "$COVERAGE_FILE"
          case " $* " in *" tests/test_faults.py "*) which=first code={first};; *) which=second code={second};; esac
          echo "collected $which"
          if [ $code = 0 ]; then echo passed; else echo failed; fi
          exit $code
        fi
        if [ "$3" = report ]; then exit {report}; fi
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_both_processes_report_each_line_under_their_number_then_one_combined_report(tmp_path):
    (tmp_path / ".coverage.part1.stale-host.1.2").write_text("")  # a run interrupted earlier left its data
    out = io.StringIO()
    assert suite.run(str(fake_python(tmp_path, 0, 0, 0)), ["-q"], cwd=tmp_path, out=out) == 0
    lines = out.getvalue().splitlines()
    assert sorted(lines[:4]) == ["[1] collected first", "[1] passed", "[2] collected second", "[2] passed"]
    assert lines[4].startswith("pytest exit codes: 0 ")
    calls = (tmp_path / "calls").read_text().splitlines()
    assert sorted(calls[:2]) == sorted(f"{suite.part(n)} {' '.join(c[1:])}"
                                       for n, c in enumerate(suite.commands("python", ["-q"]), start=1))
    assert calls[2:] == [
        f"- -m coverage combine --data-file=.coverage {suite.part(1)} {suite.part(2)}",
        "- -m coverage report --data-file=.coverage --show-missing --skip-covered --fail-under=90"]
    assert not (tmp_path / ".coverage.part1.stale-host.1.2").exists()


def test_a_failure_in_either_process_or_under_the_floor_fails_the_run(tmp_path):
    for first, second, report, expected in [(1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 2, 2), (0, 5, 2, 5)]:
        folder = tmp_path / f"{first}{second}{report}"
        folder.mkdir()
        out = io.StringIO()
        assert suite.run(str(fake_python(folder, first, second, report)), [], cwd=folder, out=out) == expected
        assert f"pytest exit codes: {first} " in out.getvalue()
        assert "report" in (folder / "calls").read_text()  # the coverage of what ran is reported all the same
