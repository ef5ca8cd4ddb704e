"""What the Python tests share (tests/*/ import it from here): check() counts a pass or prints a
failure; finish() prints the closing line and exits 1 on any failure."""
import sys

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def finish(name):
    print(f"{name}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
