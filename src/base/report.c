/* Reports on stderr: one line, from a stack buffer through write(2), so a
 * report never allocates.  A fatal one then aborts; a report that faults
 * while reporting (recursion), or a second thread's, only aborts. */
#include "base/report.h"
#include "base/fmt.h"
#include "platform/os.h"

#include <stdlib.h>
#include <unistd.h>

static _Atomic int reporting;

/* true for the first report: a report that faults while reporting, or a
 * second thread's, only aborts */
bool mp_report_begin(void)
{
    return atomic_fetch_add(&reporting, 1) == 0;
}

static void write_line(const char *kind, const char *msg)
{
    char line[256];
    size_t n = mp_fmt(line, sizeof line, "mpool: %s%s\n", kind, msg);
    mp_os_write(STDERR_FILENO, line, n < sizeof line ? n : sizeof line - 1);
}

void mp_report_abort(const char *msg)
{
    if (mp_report_begin())
        write_line("", msg);
    abort();
}

void mp_report_fatal(const char *msg)
{
    if (mp_report_begin())
        write_line("fatal: ", msg);
    abort();
}

void mp_warn(const char *msg)
{
    write_line("warning: ", msg);
}
