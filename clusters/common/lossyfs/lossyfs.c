/* lossyfs: a FUSE 3 file system that simulates power loss (like Jepsen's lazyfs, our own code).
 * It passes every operation through to a backing directory and remembers what has not been made
 * durable since the last fsync, so that a "drop" can undo it as a power cut would. It runs under
 * a database's data directory (MariaDB/InnoDB, PostgreSQL, etcd). Faultline uploads this file to
 * the nodes and compiles it there; it must stay one self-contained C file:
 *   gcc -std=gnu11 -O2 -Wall -Wextra -Werror $(pkg-config fuse3 --cflags) lossyfs.c \
 *       $(pkg-config fuse3 --libs) -lpthread
 *
 * Usage (as root):
 *   lossyfs [-f] [-o allow_other,...] [fuse options] BACKING_DIR MOUNTPOINT
 * BACKING_DIR is taken out of the arguments (everything is done with *at() calls relative to a
 * descriptor opened on it before mounting, so MOUNTPOINT may even be BACKING_DIR itself); the
 * rest goes to fuse_main (-f: foreground, as under a pid file of someone else's; without it,
 * libfuse's daemon). -o default_permissions is always added: the kernel checks permissions, we
 * run everything as root. Every object created through the mount is owned by the creating
 * process's uid and gid (the parent directory's gid if it is set-group-ID).
 *
 * What is durable:
 *  - File data. A file's record is made at its first change since it was last durable (write,
 *    truncate, fallocate, open with O_TRUNC): its size then (synced_size), and the 4096-byte
 *    pre-image of each page below synced_size saved before it is first changed. fsync and
 *    fdatasync make the record durable (it is freed). A write through an O_SYNC/O_DSYNC
 *    descriptor (or with RWF_SYNC/RWF_DSYNC) is a write and an fsync of that file.
 *    sync_file_range never reaches FUSE and is not a durability point (Linux promises none).
 *    Records are kept per inode (st_dev, st_ino) with a descriptor of their own, so renames and
 *    unlinks do not matter, and hard links of a tracked file share one record.
 *  - Directory entries. Each create, mknod, mkdir, symlink, link, unlink, rmdir and rename goes
 *    into an ordered log until an fsyncdir makes it durable: an entry is durable when fsyncdir
 *    is called on the directory that holds its name (the new name; for unlink and rmdir the
 *    directory it was removed from); a rename needs both its directories (each side is marked
 *    separately; one fsyncdir does both when they are the same). Directories are known by inode
 *    (an O_PATH descriptor kept in the entry), not by path, so a later rename of a directory
 *    does not confuse them. An unlinked file, or a file overwritten by a rename, is hard-linked
 *    into BACKING_DIR/.lossyfs-stash/<counter> first, and unlinked from there when its entry
 *    becomes durable; a removed directory is remembered by mode and owner. fsync of a file does
 *    not make its name durable (stricter than ext4 in practice).
 *
 * The control file MOUNTPOINT/.lossyfs (virtual: not in the backing directory, not listed,
 * mode 0600, owned by root, size 0, opened with direct_io so reads and writes reach us whole).
 * Writing a line runs it synchronously; the write returns its length when done, EINVAL for an
 * unknown command, EIO if an undo failed (the reason on stderr):
 *   drop            power loss: every file record's pre-image pages are written back and its
 *                   size set back to synced_size; then the entry log is forgotten WITHOUT undoing
 *                   it (directory entries survive by default, as on ext4 after a journal commit).
 *   drop entries    as drop, then the entry log is undone newest first: created names removed
 *                   (directories recursively), unlinked files linked back from the stash, removed
 *                   directories re-created, renames reversed (an overwritten target brought back).
 *                   An entry that cannot be undone (its name taken meanwhile by a change that was
 *                   made durable) is reported and skipped, and the write fails with EIO.
 *   drop torn [seed=N]  (combinable with entries) torn writes: each 512-byte sector of each saved
 *                   page is restored with probability 1/2, and a file grown past synced_size keeps
 *                   a random prefix of its new tail (a random size between synced_size and its
 *                   size, rounded down to 512). Deterministic for a given seed (default 1) and
 *                   file (inode): the choices hash the seed, inode, page and sector.
 *   drop ... force  drop even while files are open through the mount; without it a drop
 *                   fails with EBUSY then (the database still runs: a killed process's files
 *                   are released within milliseconds of its death).
 *   sync            make everything durable now: records freed, entry log and stash emptied.
 * Reading it gives one line of JSON: {"dirty-files":N,"dirty-bytes":N,"pending-entries":N,
 * "open-files":N,
 * "drops":N,"last-drop":{"files":N,"pages-restored":N,"bytes-truncated":N,"entries-undone":N}}
 * (dirty-bytes: pre-image bytes held plus bytes past synced_size). A drop is meant to run while
 * no process has the files open (the caller kills the database first); it holds the one mutex,
 * nothing more. The kernel caches nothing that a drop could leave stale (attribute, entry and
 * negative timeouts 0; no kernel_cache, so a file's pages are dropped at its next open).
 * Restarting lossyfs makes everything durable (the state is in memory only).
 *
 * Not modelled: the backing files are never fsync'd for real (the host does not lose power, and
 * skipping it is faster); metadata (mode, owner, times) is never undone; writes through a shared
 * writable mmap are tracked only when the kernel writes them back through write(); xattrs are
 * not supported; locks are left to the kernel. An O_DIRECT open is passed through (the flag is
 * dropped if the backing file system refuses it), but since libfuse's buffers are not aligned,
 * the backing descriptor loses O_DIRECT at its first I/O that the backing file system refuses.
 * With libfuse's defaults kept (nullpath_ok = 0, no hard_remove), a file unlinked while open is
 * renamed to .fuse_hidden* by libfuse until it is closed; those renames are logged like others. */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LFS_PAGE 4096
#define LFS_SECTOR 512
#define CTL_PATH "/.lossyfs"
#define STASH_NAME ".lossyfs-stash"
#define CTL_INO 0x7ffffffffffff001ULL
#define RECORD_BUCKETS 1024

static int backing_fd = -1; /* O_PATH on BACKING_DIR */
static int stash_fd = -1;   /* O_PATH on BACKING_DIR/.lossyfs-stash */
static struct timespec start_time;
/* Protects everything below: the records, the entry log, the counters. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
/* Files open through the mount (not the control file): a drop refuses to run while any is
 * (EBUSY), since a database that still runs would see its files change under it. */
static long open_files;

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static uint64_t chance(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  return mix64(seed ^ mix64(a ^ mix64(b ^ mix64(c))));
}

/* ------------------------------------------------------------------ paths */

/* The backing path of a FUSE path: the leading '/' stripped, "." for the root. */
static const char* rel(const char* path) {
  if (path == NULL) return ".";
  while (*path == '/') ++path;
  return *path ? path : ".";
}

static int is_ctl(const char* path) { return path != NULL && strcmp(path, CTL_PATH) == 0; }

static int is_stash(const char* path) {
  size_t n = strlen("/" STASH_NAME);
  return path != NULL && strncmp(path, "/" STASH_NAME, n) == 0 &&
         (path[n] == '\0' || path[n] == '/');
}

/* A name the file system keeps for itself (may not be created, removed or renamed). */
static int reserved(const char* path) { return is_ctl(path) || is_stash(path); }

/* ---------------------------------------------------------- file records */

struct page {
  struct page* next;
  off_t index;
  size_t len; /* bytes below synced_size in this page */
  unsigned char data[];
};

struct record {
  struct record* next;
  dev_t dev;
  ino_t ino;
  int fd; /* O_RDWR on the inode */
  off_t synced_size;
  struct page** buckets;
  size_t nbuckets, npages;
  size_t held; /* bytes of pre-images */
};

static struct record* records[RECORD_BUCKETS];
static size_t record_count;

static size_t record_bucket(dev_t dev, ino_t ino) {
  return (size_t)(mix64((uint64_t)dev * 0x100000001b3ULL ^ (uint64_t)ino) % RECORD_BUCKETS);
}

static struct record* find_record(dev_t dev, ino_t ino) {
  for (struct record* r = records[record_bucket(dev, ino)]; r; r = r->next)
    if (r->dev == dev && r->ino == ino) return r;
  return NULL;
}

static void free_record(struct record* r) {
  for (size_t b = 0; b < r->nbuckets; ++b) {
    struct page* p = r->buckets[b];
    while (p) {
      struct page* next = p->next;
      free(p);
      p = next;
    }
  }
  free(r->buckets);
  if (r->fd >= 0) close(r->fd);
  free(r);
}

/* The file is durable: forget its record. */
static void forget_record(dev_t dev, ino_t ino) {
  struct record** link = &records[record_bucket(dev, ino)];
  while (*link) {
    struct record* r = *link;
    if (r->dev == dev && r->ino == ino) {
      *link = r->next;
      free_record(r);
      --record_count;
      return;
    }
    link = &r->next;
  }
}

static void forget_all_records(void) {
  for (size_t b = 0; b < RECORD_BUCKETS; ++b) {
    while (records[b]) {
      struct record* r = records[b];
      records[b] = r->next;
      free_record(r);
    }
  }
  record_count = 0;
}

/* The record of the file `st` describes (made now if it has none); `fh` is a descriptor on it
 * or -1, `relpath` its backing path or NULL. NULL with errno set if no descriptor of our own
 * could be opened on it. */
static struct record* get_record(const struct stat* st, int fh, const char* relpath) {
  struct record* r = find_record(st->st_dev, st->st_ino);
  if (r) return r;
  if (!S_ISREG(st->st_mode)) {
    errno = EINVAL;
    return NULL;
  }
  int fd = -1, err = ENOENT;
  if (fh >= 0) { /* reopen the inode itself: no path, so renames and unlinks do not matter */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fh);
    fd = open(proc, O_RDWR | O_CLOEXEC);
    if (fd < 0) err = errno;
  }
  if (fd < 0 && relpath) {
    fd = openat(backing_fd, relpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) err = errno;
  }
  if (fd < 0 && fh >= 0 && (fcntl(fh, F_GETFL) & (O_ACCMODE | O_APPEND | O_DIRECT)) == O_RDWR) {
    fd = fcntl(fh, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) err = errno;
  }
  if (fd < 0) {
    fprintf(stderr, "lossyfs: cannot open %s to track it: %s\n", relpath ? relpath : "a file",
            strerror(err));
    errno = err;
    return NULL;
  }
  struct stat check;
  if (fstat(fd, &check) != 0 || check.st_dev != st->st_dev || check.st_ino != st->st_ino) {
    close(fd);
    errno = ESTALE;
    return NULL;
  }
  r = calloc(1, sizeof *r);
  if (r) r->buckets = calloc(16, sizeof *r->buckets);
  if (!r || !r->buckets) {
    free(r);
    close(fd);
    errno = ENOMEM;
    return NULL;
  }
  r->nbuckets = 16;
  r->dev = st->st_dev;
  r->ino = st->st_ino;
  r->fd = fd;
  r->synced_size = st->st_size;
  size_t b = record_bucket(r->dev, r->ino);
  r->next = records[b];
  records[b] = r;
  ++record_count;
  return r;
}

static struct page** page_slot(struct record* r, off_t index) {
  return &r->buckets[(size_t)(mix64((uint64_t)index) % r->nbuckets)];
}

static struct page* find_page(struct record* r, off_t index) {
  for (struct page* p = *page_slot(r, index); p; p = p->next)
    if (p->index == index) return p;
  return NULL;
}

static void grow_pages(struct record* r) {
  size_t old = r->nbuckets;
  struct page** old_buckets = r->buckets;
  struct page** fresh = calloc(old * 4, sizeof *fresh);
  if (!fresh) return; /* longer chains, still correct */
  r->buckets = fresh;
  r->nbuckets = old * 4;
  for (size_t b = 0; b < old; ++b) {
    struct page* p = old_buckets[b];
    while (p) {
      struct page* next = p->next;
      struct page** slot = page_slot(r, p->index);
      p->next = *slot;
      *slot = p;
      p = next;
    }
  }
  free(old_buckets);
}

/* Saves the pre-image of page `index` unless saved already or past synced_size; 0 or -errno. */
static int save_page(struct record* r, off_t index) {
  off_t start = index * LFS_PAGE;
  if (start >= r->synced_size || find_page(r, index)) return 0;
  size_t len = (size_t)(r->synced_size - start < LFS_PAGE ? r->synced_size - start : LFS_PAGE);
  struct page* p = malloc(sizeof *p + len);
  if (!p) return -ENOMEM;
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(r->fd, p->data + got, len - got, start + (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      free(p);
      return -err;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  memset(p->data + got, 0, len - got); /* past the file's current end: zeros */
  p->index = index;
  p->len = len;
  if (r->npages >= r->nbuckets * 2) grow_pages(r);
  struct page** slot = page_slot(r, index);
  p->next = *slot;
  *slot = p;
  ++r->npages;
  r->held += len;
  return 0;
}

/* Saves the pre-images of the pages [start, end) touches below synced_size; 0 or -errno. */
static int save_range(struct record* r, off_t start, off_t end) {
  if (end > r->synced_size) end = r->synced_size;
  if (start < 0) start = 0;
  if (start >= end) return 0;
  for (off_t i = start / LFS_PAGE; i <= (end - 1) / LFS_PAGE; ++i) {
    int rc = save_page(r, i);
    if (rc != 0) return rc;
  }
  return 0;
}

/* ------------------------------------------------------------- entry log */

enum entry_kind { ENTRY_CREATE, ENTRY_UNLINK, ENTRY_RMDIR, ENTRY_RENAME };

/* A name in a directory; the directory is held by an O_PATH descriptor and known by inode. */
struct side {
  int dirfd;
  dev_t dev;
  ino_t ino;
  char* name;
  char* path; /* the backing path when logged, for messages */
  int durable;
};

struct entry {
  enum entry_kind kind;
  struct side a;   /* CREATE: the new name; UNLINK, RMDIR: the removed name; RENAME: the source */
  struct side b;   /* RENAME: the destination */
  int is_dir;      /* CREATE of a directory */
  long long stash; /* UNLINK: the file; RENAME: the overwritten target; -1: none */
  /* RMDIR, or a RENAME over a directory: the directory to re-create on undo. gone_fd pins its
   * inode so that its number is not reused while entries may still name it. */
  int gone_dir, gone_fd;
  dev_t gone_dev;
  ino_t gone_ino;
  mode_t gone_mode;
  uid_t gone_uid;
  gid_t gone_gid;
};

static struct entry** entries;
static size_t entry_count, entry_cap;
static long long stash_counter;

static void side_free(struct side* s) {
  if (s->dirfd >= 0) close(s->dirfd);
  s->dirfd = -1;
  free(s->name);
  free(s->path);
  s->name = s->path = NULL;
}

/* Opens the parent directory of FUSE path `path`; 0 or -errno. `parent` (may be NULL) gets the
 * directory's stat. */
static int side_open(const char* path, struct side* s, struct stat* parent) {
  memset(s, 0, sizeof *s);
  s->dirfd = -1;
  const char* r = rel(path);
  if (strcmp(r, ".") == 0) return -EBUSY;
  char* copy = strdup(r);
  s->path = strdup(r);
  if (!copy || !s->path) {
    free(copy);
    side_free(s);
    return -ENOMEM;
  }
  char* slash = strrchr(copy, '/');
  const char* dir = ".";
  const char* name = copy;
  if (slash) {
    *slash = '\0';
    dir = copy;
    name = slash + 1;
  }
  s->name = strdup(name);
  s->dirfd = openat(backing_fd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int err = s->dirfd < 0 ? errno : 0;
  free(copy);
  struct stat st;
  if (err == 0 && fstat(s->dirfd, &st) != 0) err = errno;
  if (err == 0 && !s->name) err = ENOMEM;
  if (err) {
    side_free(s);
    return -err;
  }
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  if (parent) *parent = st;
  return 0;
}

static void stash_name(long long id, char* buf, size_t size) { snprintf(buf, size, "%lld", id); }

static void unstash(long long id) {
  if (id < 0) return;
  char name[32];
  stash_name(id, name, sizeof name);
  if (unlinkat(stash_fd, name, 0) != 0 && errno != ENOENT)
    fprintf(stderr, "lossyfs: cannot remove stash file %s: %s\n", name, strerror(errno));
}

/* Hard-links `name` in `dirfd` into the stash; its stash id, or -1 (reason on stderr). */
static long long stash_link(int dirfd, const char* name, const char* path) {
  long long id = stash_counter++;
  char sname[32];
  stash_name(id, sname, sizeof sname);
  if (linkat(dirfd, name, stash_fd, sname, 0) != 0) {
    fprintf(stderr, "lossyfs: cannot stash %s (it cannot be brought back): %s\n", path,
            strerror(errno));
    return -1;
  }
  return id;
}

static void free_entry(struct entry* e) {
  unstash(e->stash);
  side_free(&e->a);
  side_free(&e->b);
  if (e->gone_fd >= 0) close(e->gone_fd);
  free(e);
}

static struct entry* new_entry(enum entry_kind kind) {
  struct entry* e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->kind = kind;
  e->a.dirfd = e->b.dirfd = e->gone_fd = -1;
  e->stash = -1;
  e->b.durable = kind != ENTRY_RENAME; /* only a rename has a second side */
  return e;
}

/* Appends `e` to the log (which owns it from now on). */
static void log_entry(struct entry* e) {
  if (entry_count == entry_cap) {
    size_t cap = entry_cap ? entry_cap * 2 : 64;
    struct entry** grown = realloc(entries, cap * sizeof *grown);
    if (!grown) {
      fprintf(stderr, "lossyfs: out of memory: a change to %s is not tracked\n", e->a.path);
      free_entry(e);
      return;
    }
    entries = grown;
    entry_cap = cap;
  }
  entries[entry_count++] = e;
}

static void forget_all_entries(void) {
  for (size_t i = 0; i < entry_count; ++i) free_entry(entries[i]);
  entry_count = 0;
}

/* Empties the stash directory (leftovers of an earlier run, or of `sync`). */
static void sweep_stash(void) {
  int fd = openat(stash_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd < 0 ? NULL : fdopendir(fd);
  if (!d) {
    if (fd >= 0) close(fd);
    return;
  }
  struct dirent* de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (unlinkat(stash_fd, de->d_name, 0) != 0 && errno == EISDIR)
      unlinkat(stash_fd, de->d_name, AT_REMOVEDIR);
  }
  closedir(d);
}

/* fsyncdir of the directory (dev, ino): the entries whose every side is durable are dropped. */
static void entries_durable(dev_t dev, ino_t ino) {
  size_t kept = 0;
  for (size_t i = 0; i < entry_count; ++i) {
    struct entry* e = entries[i];
    if (e->a.dirfd >= 0 && e->a.dev == dev && e->a.ino == ino) e->a.durable = 1;
    if (e->b.dirfd >= 0 && e->b.dev == dev && e->b.ino == ino) e->b.durable = 1;
    if (e->a.durable && e->b.durable)
      free_entry(e);
    else
      entries[kept++] = e;
  }
  entry_count = kept;
}

/* ------------------------------------------------------------ operations */

static void* lfs_init(struct fuse_conn_info* conn, struct fuse_config* cfg) {
  (void)conn;
  cfg->use_ino = 1;
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->kernel_cache = 0;
  cfg->nullpath_ok = 0;
  return NULL;
}

static int lfs_getattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  if (is_ctl(path)) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_ino = (ino_t)CTL_INO;
    st->st_blksize = LFS_PAGE;
    st->st_atim = st->st_mtim = st->st_ctim = start_time;
    return 0;
  }
  if (is_stash(path)) return -ENOENT;
  int rc = fi ? fstat((int)fi->fh, st) : fstatat(backing_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

static int lfs_access(const char* path, int mask) {
  if (is_ctl(path)) return (mask & X_OK) ? -EACCES : 0;
  if (is_stash(path)) return -ENOENT;
  return faccessat(backing_fd, rel(path), mask, 0) == 0 ? 0 : -errno;
}

static int lfs_readlink(const char* path, char* buf, size_t size) {
  if (size == 0) return -EINVAL;
  ssize_t n = readlinkat(backing_fd, rel(path), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

/* Gives the new object `name` in `s` to the caller (uid, and gid or the set-group-ID parent's);
 * 0 or -errno. */
static int own_new(const struct side* s, const struct stat* parent) {
  struct fuse_context* ctx = fuse_get_context();
  gid_t gid = (parent->st_mode & S_ISGID) ? parent->st_gid : ctx->gid;
  return fchownat(s->dirfd, s->name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

/* Logs the creation of `s`'s name (taking `s`). */
static void log_create(struct side* s, int is_dir) {
  struct entry* e = new_entry(ENTRY_CREATE);
  if (!e) {
    fprintf(stderr, "lossyfs: out of memory: the creation of %s is not tracked\n", s->path);
    side_free(s);
    return;
  }
  e->a = *s;
  e->is_dir = is_dir;
  log_entry(e);
}

enum new_kind { NEW_NODE, NEW_DIR, NEW_SYMLINK };

/* mknod, mkdir and symlink: make the object, own it, log it. */
static int make_new(const char* path, enum new_kind kind, mode_t mode, dev_t rdev,
                    const char* target) {
  if (reserved(path)) return -EPERM;
  pthread_mutex_lock(&state_lock);
  struct side s;
  struct stat parent;
  int rc = side_open(path, &s, &parent);
  if (rc == 0) {
    int made;
    if (kind == NEW_DIR) {
      made = mkdirat(s.dirfd, s.name, mode);
    } else if (kind == NEW_SYMLINK) {
      made = symlinkat(target, s.dirfd, s.name);
    } else if (S_ISFIFO(mode)) {
      made = mkfifoat(s.dirfd, s.name, mode & 07777);
    } else if (S_ISREG(mode)) {
      int fd = openat(s.dirfd, s.name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode & 07777);
      made = fd < 0 ? -1 : close(fd);
    } else {
      made = mknodat(s.dirfd, s.name, mode, rdev);
    }
    if (made != 0) {
      rc = -errno;
    } else if ((rc = own_new(&s, &parent)) != 0) {
      unlinkat(s.dirfd, s.name, kind == NEW_DIR ? AT_REMOVEDIR : 0);
    }
    if (rc == 0)
      log_create(&s, kind == NEW_DIR);
    else
      side_free(&s);
  }
  pthread_mutex_unlock(&state_lock);
  return rc;
}

static int lfs_mknod(const char* path, mode_t mode, dev_t rdev) {
  return make_new(path, NEW_NODE, mode, rdev, NULL);
}

static int lfs_mkdir(const char* path, mode_t mode) {
  return make_new(path, NEW_DIR, mode, 0, NULL);
}

static int lfs_symlink(const char* target, const char* path) {
  return make_new(path, NEW_SYMLINK, 0, 0, target);
}

static int lfs_link(const char* from, const char* to) {
  if (reserved(from) || reserved(to)) return -EPERM;
  pthread_mutex_lock(&state_lock);
  struct side s;
  int rc = side_open(to, &s, NULL);
  if (rc == 0) {
    if (linkat(backing_fd, rel(from), s.dirfd, s.name, 0) != 0) {
      rc = -errno;
      side_free(&s);
    } else {
      log_create(&s, 0);
    }
  }
  pthread_mutex_unlock(&state_lock);
  return rc;
}

static int lfs_unlink(const char* path) {
  if (reserved(path)) return -EPERM;
  pthread_mutex_lock(&state_lock);
  struct side s;
  struct stat st;
  struct entry* e = NULL;
  int rc = side_open(path, &s, NULL);
  if (rc == 0 && fstatat(s.dirfd, s.name, &st, AT_SYMLINK_NOFOLLOW) != 0) rc = -errno;
  if (rc == 0 && S_ISDIR(st.st_mode)) rc = -EISDIR;
  if (rc == 0 && !(e = new_entry(ENTRY_UNLINK))) rc = -ENOMEM;
  if (rc == 0) {
    e->stash = stash_link(s.dirfd, s.name, s.path);
    if (unlinkat(s.dirfd, s.name, 0) != 0) {
      rc = -errno;
    } else {
      e->a = s;
      log_entry(e);
      e = NULL;
    }
  }
  if (rc != 0) {
    if (e) free_entry(e); /* also unstashes */
    side_free(&s);
  }
  pthread_mutex_unlock(&state_lock);
  return rc;
}

/* Remembers the directory `name` in `dirfd` (about to be removed) in `e`; 0 or -errno. */
static int remember_dir(struct entry* e, int dirfd, const char* name, const struct stat* st) {
  e->gone_fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (e->gone_fd < 0) return -errno;
  e->gone_dir = 1;
  e->gone_dev = st->st_dev;
  e->gone_ino = st->st_ino;
  e->gone_mode = st->st_mode & 07777;
  e->gone_uid = st->st_uid;
  e->gone_gid = st->st_gid;
  return 0;
}

static int lfs_rmdir(const char* path) {
  if (reserved(path)) return -EPERM;
  pthread_mutex_lock(&state_lock);
  struct side s;
  struct stat st;
  struct entry* e = NULL;
  int rc = side_open(path, &s, NULL);
  if (rc == 0 && fstatat(s.dirfd, s.name, &st, AT_SYMLINK_NOFOLLOW) != 0) rc = -errno;
  if (rc == 0 && !S_ISDIR(st.st_mode)) rc = -ENOTDIR;
  if (rc == 0 && !(e = new_entry(ENTRY_RMDIR))) rc = -ENOMEM;
  if (rc == 0) rc = remember_dir(e, s.dirfd, s.name, &st);
  if (rc == 0 && unlinkat(s.dirfd, s.name, AT_REMOVEDIR) != 0) rc = -errno;
  if (rc == 0) {
    e->a = s;
    log_entry(e);
  } else {
    if (e) free_entry(e);
    side_free(&s);
  }
  pthread_mutex_unlock(&state_lock);
  return rc;
}

static int lfs_rename(const char* from, const char* to, unsigned int flags) {
  if (flags & ~(unsigned int)RENAME_NOREPLACE) return -EINVAL; /* RENAME_EXCHANGE, WHITEOUT */
  if (reserved(from) || reserved(to)) return -EPERM;
  pthread_mutex_lock(&state_lock);
  struct side a, b;
  struct stat sa, sb;
  struct entry* e = NULL;
  int rc = side_open(from, &a, NULL);
  if (rc == 0 && (rc = side_open(to, &b, NULL)) != 0) side_free(&a);
  if (rc != 0) {
    pthread_mutex_unlock(&state_lock);
    return rc;
  }
  int target = 0;
  if (fstatat(a.dirfd, a.name, &sa, AT_SYMLINK_NOFOLLOW) != 0) {
    rc = -errno;
  } else if (fstatat(b.dirfd, b.name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
    target = 1;
    if (flags & RENAME_NOREPLACE) rc = -EEXIST;
  } else if (errno != ENOENT) {
    rc = -errno;
  }
  if (rc == 0 && target && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino) {
    /* Two links of one file: rename does nothing, there is nothing to log. */
    rc = renameat2(a.dirfd, a.name, b.dirfd, b.name, flags) == 0 ? 0 : -errno;
    side_free(&a);
    side_free(&b);
    pthread_mutex_unlock(&state_lock);
    return rc;
  }
  if (rc == 0 && !(e = new_entry(ENTRY_RENAME))) rc = -ENOMEM;
  if (rc == 0 && target) {
    if (S_ISDIR(sb.st_mode)) {
      if (S_ISDIR(sa.st_mode)) rc = remember_dir(e, b.dirfd, b.name, &sb);
    } else if (!S_ISDIR(sa.st_mode)) {
      e->stash = stash_link(b.dirfd, b.name, b.path);
    }
  }
  if (rc == 0) {
    int moved = flags ? renameat2(a.dirfd, a.name, b.dirfd, b.name, flags)
                      : renameat(a.dirfd, a.name, b.dirfd, b.name);
    if (moved != 0) rc = -errno;
  }
  if (rc == 0) {
    e->a = a;
    e->b = b;
    log_entry(e);
  } else {
    if (e) free_entry(e);
    side_free(&a);
    side_free(&b);
  }
  pthread_mutex_unlock(&state_lock);
  return rc;
}

static int lfs_chmod(const char* path, mode_t mode, struct fuse_file_info* fi) {
  if (reserved(path)) return -EPERM;
  int rc = fi ? fchmod((int)fi->fh, mode) : fchmodat(backing_fd, rel(path), mode, 0);
  return rc == 0 ? 0 : -errno;
}

static int lfs_chown(const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi) {
  if (reserved(path)) return -EPERM;
  int rc = fi ? fchown((int)fi->fh, uid, gid)
              : fchownat(backing_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

static int lfs_utimens(const char* path, const struct timespec tv[2], struct fuse_file_info* fi) {
  if (is_ctl(path)) return 0;
  if (is_stash(path)) return -ENOENT;
  int rc =
      fi ? futimens((int)fi->fh, tv) : utimensat(backing_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

/* Sets the size of the file open on `fh` (or at `relpath` if fh < 0), saving the pre-images
 * first. Call with state_lock held; 0 or -errno. */
static int tracked_truncate(int fh, const char* relpath, off_t size) {
  struct stat st;
  int rc = fh >= 0 ? fstat(fh, &st) : fstatat(backing_fd, relpath, &st, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) return -errno;
  if (S_ISDIR(st.st_mode)) return -EISDIR;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  struct record* r = get_record(&st, fh, relpath);
  if (!r) return -errno;
  if (size < r->synced_size && (rc = save_range(r, size, r->synced_size)) != 0) return rc;
  return ftruncate(r->fd, size) == 0 ? 0 : -errno;
}

static int lfs_truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  if (is_ctl(path)) return 0;
  if (is_stash(path)) return -ENOENT;
  pthread_mutex_lock(&state_lock);
  int rc = tracked_truncate(fi ? (int)fi->fh : -1, rel(path), size);
  pthread_mutex_unlock(&state_lock);
  return rc;
}

struct ctl_handle {
  char* text;
  size_t len;
};

static int open_backing(int dirfd, const char* name, int flags, mode_t mode) {
  int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
  if (fd < 0 && errno == EINVAL && (flags & O_DIRECT))
    fd = openat(dirfd, name, (flags & ~O_DIRECT) | O_CLOEXEC, mode);
  return fd;
}

/* Opens an existing file; O_TRUNC is done by us, tracked. */
static int open_existing(const char* path, struct fuse_file_info* fi) {
  int fd = open_backing(backing_fd, rel(path), fi->flags & ~(O_TRUNC | O_CREAT | O_EXCL), 0);
  if (fd < 0) return -errno;
  if (fi->flags & O_TRUNC) {
    pthread_mutex_lock(&state_lock);
    int rc = tracked_truncate(fd, rel(path), 0);
    pthread_mutex_unlock(&state_lock);
    if (rc != 0) {
      close(fd);
      return rc;
    }
  }
  fi->fh = (uint64_t)fd;
  __atomic_add_fetch(&open_files, 1, __ATOMIC_SEQ_CST);
  return 0;
}

static int lfs_open(const char* path, struct fuse_file_info* fi) {
  if (is_ctl(path)) {
    struct ctl_handle* h = calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    return 0;
  }
  if (is_stash(path)) return -ENOENT;
  return open_existing(path, fi);
}

static int lfs_create(const char* path, mode_t mode, struct fuse_file_info* fi) {
  if (reserved(path)) return -EPERM;
  pthread_mutex_lock(&state_lock);
  struct side s;
  struct stat parent;
  int rc = side_open(path, &s, &parent);
  if (rc != 0) {
    pthread_mutex_unlock(&state_lock);
    return rc;
  }
  /* O_DIRECT afterwards: a file system that refuses it at open may have made the file first. */
  int flags = (fi->flags | O_CREAT | O_EXCL) & ~(O_TRUNC | O_DIRECT);
  int fd = openat(s.dirfd, s.name, flags | O_CLOEXEC, mode);
  if (fd >= 0 && (fi->flags & O_DIRECT)) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT);
  if (fd < 0) {
    rc = -errno;
    side_free(&s);
    pthread_mutex_unlock(&state_lock);
    /* It exists after all (made by someone else meanwhile): open it as it is, unless the
     * caller wanted it new. */
    if (rc == -EEXIST && !(fi->flags & O_EXCL)) return open_existing(path, fi);
    return rc;
  }
  if ((rc = own_new(&s, &parent)) != 0) {
    close(fd);
    unlinkat(s.dirfd, s.name, 0);
    side_free(&s);
  } else {
    log_create(&s, 0);
    fi->fh = (uint64_t)fd;
    __atomic_add_fetch(&open_files, 1, __ATOMIC_SEQ_CST);
  }
  pthread_mutex_unlock(&state_lock);
  return rc;
}

/* pread/pwrite on `fd`; where the backing file system refuses libfuse's unaligned buffer for
 * O_DIRECT, the descriptor loses O_DIRECT and the call is retried. */
static ssize_t io(int fd, int writing, void* buf, size_t size, off_t off) {
  for (;;) {
    ssize_t n = writing ? pwrite(fd, buf, size, off) : pread(fd, buf, size, off);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    int fl;
    if (errno == EINVAL && (fl = fcntl(fd, F_GETFL)) >= 0 && (fl & O_DIRECT) &&
        fcntl(fd, F_SETFL, fl & ~O_DIRECT) == 0)
      continue;
    return -errno;
  }
}

static int status_text(char** out, size_t* len);
static int run_command(const char* buf, size_t size);

static int lfs_read(const char* path, char* buf, size_t size, off_t off,
                    struct fuse_file_info* fi) {
  if (is_ctl(path)) {
    struct ctl_handle* h = (struct ctl_handle*)(uintptr_t)fi->fh;
    if (off == 0 || !h->text) {
      free(h->text);
      h->text = NULL;
      int rc = status_text(&h->text, &h->len);
      if (rc != 0) return rc;
    }
    if ((size_t)off >= h->len) return 0;
    size_t n = h->len - (size_t)off < size ? h->len - (size_t)off : size;
    memcpy(buf, h->text + off, n);
    return (int)n;
  }
  return (int)io((int)fi->fh, 0, buf, size, off);
}

static int lfs_write(const char* path, const char* buf, size_t size, off_t off,
                     struct fuse_file_info* fi) {
  if (is_ctl(path)) {
    int rc = run_command(buf, size);
    return rc != 0 ? rc : (int)size;
  }
  int fh = (int)fi->fh;
  pthread_mutex_lock(&state_lock);
  struct stat st;
  int rc = 0;
  int fl = fcntl(fh, F_GETFL);
  if (fl < 0 || fstat(fh, &st) != 0) rc = -errno;
  struct record* r = NULL;
  if (rc == 0 && !(r = get_record(&st, fh, rel(path)))) rc = -errno;
  /* An O_APPEND descriptor writes at the end whatever the offset. */
  off_t at = (fl & O_APPEND) ? st.st_size : off;
  if (rc == 0) rc = save_range(r, at, at + (off_t)size);
  ssize_t n = rc == 0 ? io(fh, 1, (void*)buf, size, off) : rc;
  if (n > 0 && ((fi->flags | fl) & O_DSYNC)) forget_record(st.st_dev, st.st_ino);
  pthread_mutex_unlock(&state_lock);
  return (int)n;
}

static int lfs_statfs(const char* path, struct statvfs* sv) {
  (void)path;
  return fstatvfs(backing_fd, sv) == 0 ? 0 : -errno;
}

static int lfs_release(const char* path, struct fuse_file_info* fi) {
  if (is_ctl(path)) {
    struct ctl_handle* h = (struct ctl_handle*)(uintptr_t)fi->fh;
    free(h->text);
    free(h);
    return 0;
  }
  close((int)fi->fh);
  __atomic_sub_fetch(&open_files, 1, __ATOMIC_SEQ_CST);
  return 0;
}

/* fsync and fdatasync: the file is durable. Never forwarded to the backing file. */
static int lfs_fsync(const char* path, int datasync, struct fuse_file_info* fi) {
  (void)datasync;
  if (is_ctl(path)) return 0;
  struct stat st;
  if (fstat((int)fi->fh, &st) != 0) return -errno;
  pthread_mutex_lock(&state_lock);
  forget_record(st.st_dev, st.st_ino);
  pthread_mutex_unlock(&state_lock);
  return 0;
}

static int lfs_fallocate(const char* path, int mode, off_t off, off_t len,
                         struct fuse_file_info* fi) {
  if (is_ctl(path)) return -EOPNOTSUPP;
  int fh = (int)fi->fh;
  pthread_mutex_lock(&state_lock);
  struct stat st;
  int rc = fstat(fh, &st) == 0 ? 0 : -errno;
  struct record* r = NULL;
  if (rc == 0 && !(r = get_record(&st, fh, rel(path)))) rc = -errno;
  if (rc == 0) {
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
      rc = save_range(r, off, off + len);
    else if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
      rc = save_range(r, off, r->synced_size); /* everything after it moves */
  }
  if (rc == 0 && fallocate(r->fd, mode, off, len) != 0) rc = -errno;
  pthread_mutex_unlock(&state_lock);
  return rc;
}

static int lfs_opendir(const char* path, struct fuse_file_info* fi) {
  if (is_stash(path)) return -ENOENT;
  int fd = openat(backing_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    return -err;
  }
  fi->fh = (uint64_t)(uintptr_t)d;
  return 0;
}

static int lfs_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t off,
                       struct fuse_file_info* fi, enum fuse_readdir_flags flags) {
  (void)off;
  (void)flags;
  DIR* d = (DIR*)(uintptr_t)fi->fh;
  int root = strcmp(rel(path), ".") == 0;
  rewinddir(d);
  for (;;) {
    errno = 0;
    struct dirent* de = readdir(d);
    if (!de) return errno != 0 ? -errno : 0;
    if (root && (strcmp(de->d_name, STASH_NAME) == 0 || strcmp(de->d_name, CTL_PATH + 1) == 0))
      continue;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = de->d_ino;
    st.st_mode = (mode_t)DTTOIF(de->d_type);
    if (filler(buf, de->d_name, &st, 0, 0)) return 0;
  }
}

static int lfs_releasedir(const char* path, struct fuse_file_info* fi) {
  (void)path;
  closedir((DIR*)(uintptr_t)fi->fh);
  return 0;
}

/* fsyncdir: the entries in this directory are durable. */
static int lfs_fsyncdir(const char* path, int datasync, struct fuse_file_info* fi) {
  (void)path;
  (void)datasync;
  struct stat st;
  if (fstat(dirfd((DIR*)(uintptr_t)fi->fh), &st) != 0) return -errno;
  pthread_mutex_lock(&state_lock);
  entries_durable(st.st_dev, st.st_ino);
  pthread_mutex_unlock(&state_lock);
  return 0;
}

/* -------------------------------------------------------------- control */

static long long drops;
static struct { long long files, pages, truncated, undone; } last_drop;

static int status_text(char** out, size_t* len) {
  pthread_mutex_lock(&state_lock);
  unsigned long long bytes = 0;
  for (size_t b = 0; b < RECORD_BUCKETS; ++b) {
    for (struct record* r = records[b]; r; r = r->next) {
      struct stat st;
      bytes += r->held;
      if (fstat(r->fd, &st) == 0 && st.st_size > r->synced_size)
        bytes += (unsigned long long)(st.st_size - r->synced_size);
    }
  }
  char* text = NULL;
  int n = asprintf(
      &text,
      "{\"dirty-files\":%zu,\"dirty-bytes\":%llu,\"pending-entries\":%zu,"
      "\"open-files\":%ld,\"drops\":%lld,\"last-drop\":{\"files\":%lld,\"pages-restored\":%lld,"
      "\"bytes-truncated\":%lld,\"entries-undone\":%lld}}\n",
      record_count, bytes, entry_count, __atomic_load_n(&open_files, __ATOMIC_SEQ_CST), drops,
      last_drop.files, last_drop.pages, last_drop.truncated, last_drop.undone);
  pthread_mutex_unlock(&state_lock);
  if (n < 0) return -ENOMEM;
  *out = text;
  *len = (size_t)n;
  return 0;
}

/* Writes `len` bytes at `off` through `fd`; 0 or -1 (reason on stderr). */
static int put(int fd, const unsigned char* data, size_t len, off_t off) {
  while (len > 0) {
    ssize_t n = pwrite(fd, data, len, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "lossyfs: drop: write back failed: %s\n", n < 0 ? strerror(errno) : "0");
      return -1;
    }
    data += n;
    len -= (size_t)n;
    off += n;
  }
  return 0;
}

/* Power loss for one file; 0 or -1. */
static int drop_record(struct record* r, int torn, uint64_t seed) {
  int rc = 0;
  struct stat st;
  if (fstat(r->fd, &st) != 0) {
    fprintf(stderr, "lossyfs: drop: fstat: %s\n", strerror(errno));
    return -1;
  }
  off_t size = r->synced_size;
  if (torn && st.st_size > r->synced_size) {
    uint64_t span = (uint64_t)(st.st_size - r->synced_size);
    off_t keep = r->synced_size + (off_t)(chance(seed, r->ino, UINT64_MAX, 0) % (span + 1));
    keep &= ~(off_t)(LFS_SECTOR - 1);
    size = keep > r->synced_size ? keep : r->synced_size;
  }
  if (st.st_size > size) last_drop.truncated += st.st_size - size;
  if (st.st_size != size && ftruncate(r->fd, size) != 0) {
    fprintf(stderr, "lossyfs: drop: ftruncate: %s\n", strerror(errno));
    rc = -1;
  }
  for (size_t b = 0; b < r->nbuckets; ++b) {
    for (struct page* p = r->buckets[b]; p; p = p->next) {
      off_t at = p->index * LFS_PAGE;
      if (!torn) {
        if (put(r->fd, p->data, p->len, at) != 0) rc = -1;
        ++last_drop.pages;
        continue;
      }
      int any = 0;
      for (size_t s = 0; s * LFS_SECTOR < p->len; ++s) {
        if (!(chance(seed, r->ino, (uint64_t)p->index, s) & 1)) continue;
        size_t from = s * LFS_SECTOR;
        size_t n = p->len - from < LFS_SECTOR ? p->len - from : LFS_SECTOR;
        if (put(r->fd, p->data + from, n, at + (off_t)from) != 0) rc = -1;
        any = 1;
      }
      if (any) ++last_drop.pages;
    }
  }
  ++last_drop.files;
  return rc;
}

/* Removes `name` in `dirfd`, a directory with everything in it; 0 or -1 with errno. */
static int remove_tree(int at, const char* name) {
  struct stat st;
  if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) return unlinkat(at, name, 0);
  int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR* d = fd < 0 ? NULL : fdopendir(fd);
  if (!d) {
    if (fd >= 0) close(fd);
    return -1;
  }
  struct dirent* de;
  int rc = 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (remove_tree(dirfd(d), de->d_name) != 0) rc = -1;
  }
  closedir(d);
  if (rc != 0) return -1;
  return unlinkat(at, name, AT_REMOVEDIR);
}

/* Re-creates the directory `e` remembers as `name` in `dirfd`, and points the earlier entries
 * that named the old one at it; 0 or -1 with errno. */
static int recreate_dir(struct entry* e, size_t index, int dirfd, const char* name) {
  if (mkdirat(dirfd, name, e->gone_mode) != 0) return -1;
  fchownat(dirfd, name, e->gone_uid, e->gone_gid, AT_SYMLINK_NOFOLLOW);
  fchmodat(dirfd, name, e->gone_mode, 0); /* the bits mkdir leaves out (S_ISGID, ...) */
  int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  for (size_t i = 0; i < index; ++i) {
    struct side* sides[2] = {&entries[i]->a, &entries[i]->b};
    for (int k = 0; k < 2; ++k) {
      struct side* s = sides[k];
      if (s->dirfd < 0 || s->dev != e->gone_dev || s->ino != e->gone_ino) continue;
      int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) continue;
      close(s->dirfd);
      s->dirfd = copy;
      s->dev = st.st_dev;
      s->ino = st.st_ino;
    }
  }
  close(fd);
  return 0;
}

/* Links stash file `id` back as `name` in `dirfd`; 0 or -1 with errno. */
static int link_back(long long id, int dirfd, const char* name) {
  char sname[32];
  stash_name(id, sname, sizeof sname);
  return linkat(stash_fd, sname, dirfd, name, 0);
}

/* Undoes entry `index` of the log; 0 or -1 (reason on stderr). */
static int undo_entry(size_t index) {
  struct entry* e = entries[index];
  const char* what = "";
  int rc = 0;
  switch (e->kind) {
    case ENTRY_CREATE:
      what = "remove";
      rc = e->is_dir ? remove_tree(e->a.dirfd, e->a.name) : unlinkat(e->a.dirfd, e->a.name, 0);
      if (rc != 0 && errno == ENOENT) rc = 0; /* gone already */
      break;
    case ENTRY_UNLINK:
      what = "link back";
      if (e->stash < 0) {
        errno = ENOENT;
        rc = -1;
      } else {
        rc = link_back(e->stash, e->a.dirfd, e->a.name);
      }
      break;
    case ENTRY_RMDIR:
      what = "re-create";
      rc = recreate_dir(e, index, e->a.dirfd, e->a.name);
      break;
    case ENTRY_RENAME:
      what = "rename back";
      rc = renameat2(e->b.dirfd, e->b.name, e->a.dirfd, e->a.name, RENAME_NOREPLACE);
      if (rc != 0 && errno == EINVAL) /* no RENAME_NOREPLACE on the backing file system */
        rc = renameat(e->b.dirfd, e->b.name, e->a.dirfd, e->a.name);
      if (rc == 0 && e->stash >= 0) {
        what = "bring back the overwritten";
        rc = link_back(e->stash, e->b.dirfd, e->b.name);
      } else if (rc == 0 && e->gone_dir) {
        what = "re-create the overwritten";
        rc = recreate_dir(e, index, e->b.dirfd, e->b.name);
      }
      break;
  }
  if (rc != 0) {
    fprintf(stderr, "lossyfs: drop entries: cannot %s %s: %s\n", what,
            e->kind == ENTRY_RENAME ? e->b.path : e->a.path, strerror(errno));
    return -1;
  }
  ++last_drop.undone;
  return 0;
}

static int drop(int undo_entries, int torn, uint64_t seed) {
  int rc = 0;
  pthread_mutex_lock(&state_lock);
  memset(&last_drop, 0, sizeof last_drop);
  ++drops;
  for (size_t b = 0; b < RECORD_BUCKETS; ++b) {
    for (struct record* r = records[b]; r; r = r->next)
      if (drop_record(r, torn, seed) != 0) rc = -EIO;
  }
  forget_all_records();
  if (undo_entries) {
    for (size_t i = entry_count; i-- > 0;)
      if (undo_entry(i) != 0) rc = -EIO;
  }
  forget_all_entries();
  pthread_mutex_unlock(&state_lock);
  return rc;
}

/* Runs a command line written to the control file; 0 or -errno. */
static int run_command(const char* buf, size_t size) {
  char line[256];
  if (size >= sizeof line) return -EINVAL;
  memcpy(line, buf, size);
  line[size] = '\0';
  char* words[8];
  int count = 0;
  char* save = NULL;
  for (char* w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
    if (count == 8) return -EINVAL;
    words[count++] = w;
  }
  if (count == 0) return -EINVAL;
  if (strcmp(words[0], "sync") == 0) {
    if (count != 1) return -EINVAL;
    pthread_mutex_lock(&state_lock);
    forget_all_records();
    forget_all_entries();
    sweep_stash();
    pthread_mutex_unlock(&state_lock);
    return 0;
  }
  if (strcmp(words[0], "drop") != 0) return -EINVAL;
  int undo_entries = 0, torn = 0, seeded = 0, force = 0;
  uint64_t seed = 1;
  for (int i = 1; i < count; ++i) {
    if (strcmp(words[i], "entries") == 0 && !undo_entries) {
      undo_entries = 1;
    } else if (strcmp(words[i], "force") == 0 && !force) {
      force = 1;
    } else if (strcmp(words[i], "torn") == 0 && !torn) {
      torn = 1;
    } else if (strncmp(words[i], "seed=", 5) == 0 && !seeded) {
      char* end = NULL;
      errno = 0;
      unsigned long long v = strtoull(words[i] + 5, &end, 10);
      if (errno != 0 || end == words[i] + 5 || *end != '\0') return -EINVAL;
      seed = v;
      seeded = 1;
    } else {
      return -EINVAL;
    }
  }
  if (seeded && !torn) return -EINVAL;
  if (!force && __atomic_load_n(&open_files, __ATOMIC_SEQ_CST) > 0) return -EBUSY;
  return drop(undo_entries, torn, seed);
}

static const struct fuse_operations lfs_ops = {
    .init = lfs_init,
    .getattr = lfs_getattr,
    .access = lfs_access,
    .readlink = lfs_readlink,
    .mknod = lfs_mknod,
    .mkdir = lfs_mkdir,
    .symlink = lfs_symlink,
    .unlink = lfs_unlink,
    .rmdir = lfs_rmdir,
    .rename = lfs_rename,
    .link = lfs_link,
    .chmod = lfs_chmod,
    .chown = lfs_chown,
    .truncate = lfs_truncate,
    .utimens = lfs_utimens,
    .open = lfs_open,
    .create = lfs_create,
    .read = lfs_read,
    .write = lfs_write,
    .statfs = lfs_statfs,
    .release = lfs_release,
    .fsync = lfs_fsync,
    .fallocate = lfs_fallocate,
    .opendir = lfs_opendir,
    .readdir = lfs_readdir,
    .releasedir = lfs_releasedir,
    .fsyncdir = lfs_fsyncdir,
};

static int usage(void) {
  fprintf(stderr, "usage: lossyfs [-f] [fuse options] BACKING_DIR MOUNTPOINT\n");
  return 2;
}

int main(int argc, char** argv) {
  int positional[2] = {0, 0}, count = 0;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "-o") == 0) {
      ++i;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage();
      char* help[] = {argv[0], "--help", NULL};
      return fuse_main(2, help, &lfs_ops, NULL);
    } else if (a[0] != '-' || a[1] == '\0') {
      if (count < 2) positional[count] = i;
      ++count;
    }
  }
  if (count != 2) return usage();
  char backing[PATH_MAX];
  if (realpath(argv[positional[0]], backing) == NULL) {
    fprintf(stderr, "lossyfs: %s: %s\n", argv[positional[0]], strerror(errno));
    return 1;
  }
  backing_fd = open(backing, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (backing_fd < 0) {
    fprintf(stderr, "lossyfs: %s: %s\n", backing, strerror(errno));
    return 1;
  }
  if (mkdirat(backing_fd, STASH_NAME, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "lossyfs: %s/%s: %s\n", backing, STASH_NAME, strerror(errno));
    return 1;
  }
  stash_fd = openat(backing_fd, STASH_NAME, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (stash_fd < 0) {
    fprintf(stderr, "lossyfs: %s/%s: %s\n", backing, STASH_NAME, strerror(errno));
    return 1;
  }
  sweep_stash();
  clock_gettime(CLOCK_REALTIME, &start_time);
  /* The kernel has applied the caller's umask already; the records and entries keep a
   * descriptor each. */
  umask(0);
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  /* argv without BACKING_DIR, and with -o default_permissions (we run everything as root) and
   * libfuse's usual max_idle_threads (libfuse 3.12 to 3.14 complain of their own default). */
  char** args = calloc((size_t)argc + 5, sizeof *args);
  if (!args) return 1;
  int n = 0;
  args[n++] = argv[0];
  args[n++] = "-o";
  args[n++] = "default_permissions";
  args[n++] = "-o";
  args[n++] = "max_idle_threads=10";
  for (int i = 1; i < argc; ++i)
    if (i != positional[0]) args[n++] = argv[i];
  args[n] = NULL;
  int rc = fuse_main(n, args, &lfs_ops, NULL);
  free(args);
  return rc;
}
