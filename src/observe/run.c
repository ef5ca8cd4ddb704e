/* The "run" section of a dump: the program's path, its arguments (cut at
 * ARGS_BYTES), the wall-clock time it started, and each mapped module (the
 * program and its shared libraries) with the address it is loaded at and
 * its GNU build-id, so that offline symbolisation (mpool-report
 * --addr2line, pprof) uses the right file and can tell when a file on disk
 * no longer is the one that ran.
 *
 * Written in a signal handler too, so nothing here asks the loader
 * (dl_iterate_phdr takes its lock): the modules are the file mappings of
 * /proc/self/maps at offset 0 whose first bytes are an ELF header, and the
 * build-id is read from the note in their mapped headers. */
#define _GNU_SOURCE
#include "observe/run.h"
#include "base/fmt.h"
#include "core/init.h"
#include "platform/os.h"

#include <elf.h>
#include <link.h>
#include <string.h>

#define ARGS_BYTES 4096
#define MAX_ARGS 64
#define MAX_MODULES 512

static char args[ARGS_BYTES]; /* under the dump's turn */
static char maps_chunk[8192];

/* The build-id note of the ELF image mapped at [lo, hi), as hex into out
 * ("" if none can be read within the mapping); false if the mapping does
 * not start with an ELF header.  Memory is read with a system call
 * (mp_os_read_memory), which fails where a load would fault: a file
 * shortened under its mapping. */
static bool build_id(uintptr_t lo, uintptr_t hi, char *out, size_t cap)
{
    static unsigned char head[4096], note[1024];
    out[0] = '\0';
    size_t have = hi - lo < sizeof head ? hi - lo : sizeof head;
    if (!mp_os_read_memory((const void *)lo, head, have) || have < sizeof(ElfW(Ehdr)))
        return false;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)head;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return false;
    if (eh->e_phoff + (size_t)eh->e_phnum * sizeof(ElfW(Phdr)) > have)
        return true; /* program headers out of reach: an ELF file, its build-id unknown */
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(head + eh->e_phoff);
    uintptr_t load_bias = 0;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD) { /* the first: mapped at lo */
            load_bias = lo - (ph[i].p_vaddr & ~(uintptr_t)4095);
            break;
        }
    for (int i = 0; i < eh->e_phnum; i++) {
        uintptr_t at = load_bias + ph[i].p_vaddr;
        size_t size = ph[i].p_memsz < sizeof note ? ph[i].p_memsz : sizeof note;
        if (ph[i].p_type != PT_NOTE || at < lo || at + size > hi ||
            !mp_os_read_memory((const void *)at, note, size))
            continue;
        for (size_t p = 0; p + sizeof(ElfW(Nhdr)) <= size;) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)(note + p);
            size_t name = p + sizeof *n, desc = name + ((n->n_namesz + 3) & ~3u);
            size_t next = desc + ((n->n_descsz + 3) & ~3u);
            if (next > size)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(note + name, "GNU", 4) == 0) {
                size_t len = 0;
                for (unsigned k = 0; k < n->n_descsz && len + 3 <= cap; k++)
                    len += mp_fmt(out + len, cap - len, "%02x", note[desc + k]);
                return true;
            }
            p = next;
        }
    }
    return true;
}

/* A hex number at *p, moving *p past it (strtoul is not on the list of
 * calls a signal handler may make). */
static unsigned long hex(char **p)
{
    unsigned long v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v << 4 | (unsigned long)d;
    }
}

/* One line of /proc/self/maps: a module if it maps a file's start. */
static void module_line(mp_emitter_t *e, char *line, char *last_path, unsigned *nmodules)
{
    unsigned long lo, hi, offset;
    char perms[5];
    int path_at = 0;
    if (*nmodules >= MAX_MODULES)
        return;
    /* "lo-hi perms offset dev inode path" */
    char *p = line;
    lo = hex(&p);
    if (*p++ != '-')
        return;
    hi = hex(&p);
    while (*p == ' ')
        p++;
    memcpy(perms, p, 4);
    perms[4] = '\0';
    p += 4;
    while (*p == ' ')
        p++;
    offset = hex(&p);
    for (int field = 0; field < 2 && p; field++) /* dev, inode */
        p = strchr(p + 1, ' ');
    if (p == NULL)
        return;
    while (*p == ' ')
        p++;
    path_at = (int)(p - line);
    const char *path = line + path_at;
    if (offset != 0 || perms[0] != 'r' || path[0] != '/' || strcmp(path, last_path) == 0)
        return;
    char id[2 * 64 + 1];
    if (!build_id(lo, hi, id, sizeof id))
        return; /* a data file mapped whole */
    mp_fmt(last_path, 4096, "%s", path);
    char base[24];
    mp_fmt(base, sizeof base, "0x%lx", lo);
    mp_emit_item_begin(e);
    mp_emit_str(e, "path", "path", path);
    mp_emit_str(e, "base", "loaded at", base);
    mp_emit_str(e, "build_id", "build-id", id);
    mp_emit_item_end(e);
    (*nmodules)++;
}

static void emit_modules(mp_emitter_t *e)
{
    static char line[4096 + 256], last_path[4096];
    last_path[0] = '\0';
    mp_emit_list_begin(e, "modules", "mapped modules");
    int fd = mp_os_open_read("/proc/self/maps");
    size_t len = 0;
    unsigned nmodules = 0;
    ssize_t n;
    while (fd >= 0 && (n = mp_os_read(fd, maps_chunk, sizeof maps_chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (maps_chunk[i] != '\n') {
                if (len < sizeof line - 1)
                    line[len++] = maps_chunk[i];
                continue;
            }
            line[len] = '\0';
            module_line(e, line, last_path, &nmodules);
            len = 0;
        }
    }
    if (fd >= 0)
        mp_os_close(fd);
    mp_emit_list_end(e);
}

void mp_run_emit(mp_emitter_t *e)
{
    mp_emit_object_begin(e, "run", "the run");
    char exe[1024];
    mp_os_exe_path(exe, sizeof exe);
    mp_emit_str(e, "program", "program", exe);
    ssize_t len = mp_os_read_file("/proc/self/cmdline", args, sizeof args);
    const char *argv[MAX_ARGS];
    unsigned argc = 0;
    for (ssize_t i = 0; i < len && argc < MAX_ARGS; i += (ssize_t)strlen(args + i) + 1)
        argv[argc++] = args + i;
    mp_emit_str_array(e, "argv", "arguments", argv, argc);
    mp_emit_u64(e, "start_unix_ms", "started (ms since 1970)",
                mp_start_unix_ms());
    emit_modules(e);
    mp_emit_object_end(e);
}
