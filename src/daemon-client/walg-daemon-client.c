// walg-daemon-client: sends one wal-push or wal-fetch request to `wal-g daemon` over its Unix socket and exits 0 on
// `O`, 74 on `N` (no such WAL), 1 otherwise. PostgreSQL starts it once per WAL segment, so it is a small C program:
// a Node.js start-up alone costs ~30 ms of CPU per segment (docs/PERFORMANCE.md, "A client that is not Node").
// Same command line, texts and exit codes as WAL-G's cmd/daemonclient (Go flags after the positional arguments).

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef WALNUT_VERSION
#define WALNUT_VERSION "devel"
#endif
#ifndef WALNUT_REVISION
#define WALNUT_REVISION "devel"
#endif
#ifndef WALNUT_BUILD_DATE
#define WALNUT_BUILD_DATE "devel"
#endif

enum { EXIT_WAL_NOT_FOUND = 74 };
enum { TYPE_WAL_PUSH = 'F', TYPE_WAL_FETCH = 'f', ANSWER_OK = 'O', ANSWER_NOT_FOUND = 'N' };
#define MAX_FRAME 0xffff
#define DURATION_LIMIT INT64_MAX

struct command {
  const char *name;
  char type;
  int argument_count;
  const char *argument_names;
};

static const struct command COMMANDS[] = {
    {"wal-push", TYPE_WAL_PUSH, 1, "wal_filepath"},
    {"wal-fetch", TYPE_WAL_FETCH, 2, "wal_name destination_filename"},
};

static const char FLAG_DEFAULTS[] =
    "  -connection-timeout duration\n    \tdaemon socket connection timeout (default 5s)\n"
    "  -timeout duration\n    \tdaemon operation execution timeout (default 1m0s)\n";

/** Writes all of text; a closed stdout or stderr must not change the exit code. */
static void put(int fd, const char *text, size_t length) {
  while (length > 0) {
    ssize_t written = write(fd, text, length);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    text += written;
    length -= (size_t)written;
  }
}

static void puts_fd(int fd, const char *text) { put(fd, text, strlen(text)); }

/** A growing message buffer; on allocation failure the process exits (there is nothing to lose yet). */
struct text {
  char *bytes;
  size_t length, capacity;
};

static void append(struct text *text, const char *bytes, size_t length) {
  if (text->length + length + 1 > text->capacity) {
    size_t capacity = (text->length + length + 1) * 2;
    char *grown = realloc(text->bytes, capacity);
    if (grown == NULL) {
      puts_fd(2, "walg-daemon-client: out of memory\n");
      exit(1);
    }
    text->bytes = grown;
    text->capacity = capacity;
  }
  memcpy(text->bytes + text->length, bytes, length);
  text->length += length;
  text->bytes[text->length] = '\0';
}

static void add(struct text *text, const char *string) { append(text, string, strlen(string)); }

/** Go's syscall error text: strerror with a lower-case first letter ("no such file or directory"). */
static void add_reason(struct text *text, int error) {
  const char *reason = strerror(error);
  char first = (char)tolower((unsigned char)reason[0]);
  append(text, &first, 1);
  add(text, reason + 1);
}

/** log.Fatal: a local `2006/01/02 15:04:05 ` timestamp, the message, a newline; exit 1. */
static _Noreturn void fatal(const char *message) {
  char stamp[32] = "";
  time_t now = time(NULL);
  struct tm local;
  if (localtime_r(&now, &local) != NULL) strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S ", &local);
  struct text line = {0};
  add(&line, stamp);
  add(&line, message);
  add(&line, "\n");
  put(2, line.bytes, line.length);
  exit(1);
}

/** WAL-G's usage template on stdout, then Go's flag defaults on stderr; exit 1. */
static _Noreturn void usage(const char *error, const struct command *command) {
  struct text out = {0};
  add(&out, "Error: ");
  add(&out, error);
  add(&out, "\n\nwalg-daemon-client is lightweight client for WAL-G daemon\n\nUsage:\n  walg-daemon-client socket ");
  if (command != NULL) {
    add(&out, command->name);
    add(&out, " ");
    add(&out, command->argument_names);
  } else {
    add(&out, "command [command_args]");
  }
  add(&out, " [flags]\n");
  if (command == NULL) {
    add(&out, "\nArguments:\n  socket\t- name of unix socket to communicate with wal-g daemon\n"
              "  command\t- command to send to the daemon: wal-push, wal-fetch\n"
              "  command_args\t- command specific arguments\n");
  }
  add(&out, "\nFlags:\n");
  put(1, out.bytes, out.length);
  puts_fd(2, FLAG_DEFAULTS);
  exit(1);
}

/** time.ParseDuration; 0 and the nanoseconds, or -1 for anything Go refuses. */
static int parse_duration(const char *text, int64_t *result) {
  const char *rest = text;
  int negative = 0;
  if (*rest == '-' || *rest == '+') negative = *rest++ == '-';
  if (strcmp(rest, "0") == 0) {
    *result = 0;
    return 0;
  }
  if (*rest == '\0') return -1;
  uint64_t total = 0;
  while (*rest != '\0') {
    if (!(*rest == '.' || isdigit((unsigned char)*rest))) return -1;
    uint64_t whole = 0;
    const char *start = rest;
    for (; isdigit((unsigned char)*rest); rest++) {
      if (whole > (uint64_t)DURATION_LIMIT / 10) return -1;
      whole = whole * 10 + (uint64_t)(*rest - '0');
      if (whole > (uint64_t)DURATION_LIMIT) return -1;
    }
    int saw_whole = rest > start;
    uint64_t fraction = 0;
    double scale = 1;
    int saw_fraction = 0;
    if (*rest == '.') {
      rest++;
      int overflowed = 0;
      start = rest;
      for (; isdigit((unsigned char)*rest); rest++) {
        if (overflowed) continue;
        if (fraction > ((uint64_t)DURATION_LIMIT - 1) / 10) {
          overflowed = 1;
          continue;
        }
        uint64_t next = fraction * 10 + (uint64_t)(*rest - '0');
        if (next > (uint64_t)DURATION_LIMIT) {
          overflowed = 1;
          continue;
        }
        fraction = next;
        scale *= 10;
      }
      saw_fraction = rest > start;
    }
    if (!saw_whole && !saw_fraction) return -1;
    start = rest;
    while (*rest != '\0' && *rest != '.' && !isdigit((unsigned char)*rest)) rest++;
    size_t unit_length = (size_t)(rest - start);
    if (unit_length == 0) return -1;
    static const struct {
      const char *name;
      uint64_t nanoseconds;
    } UNITS[] = {{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000}, {"ms", 1000000},
                 {"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL}};
    uint64_t unit = 0;
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++) {
      if (strlen(UNITS[i].name) == unit_length && memcmp(UNITS[i].name, start, unit_length) == 0) unit = UNITS[i].nanoseconds;
    }
    if (unit == 0) return -1;
    if (whole > (uint64_t)DURATION_LIMIT / unit) return -1;
    uint64_t value = whole * unit;
    if (fraction > 0) {
      value += (uint64_t)((double)fraction * ((double)unit / scale));
      if (value > (uint64_t)DURATION_LIMIT) return -1;
    }
    total += value;
    if (total > (uint64_t)DURATION_LIMIT) return -1;
  }
  if (!negative && total > (uint64_t)DURATION_LIMIT - 1) return -1;
  *result = negative ? -(int64_t)total : (int64_t)total;
  return 0;
}

/**
 * Go's flag.FlagSet.Parse (ContinueOnError) for -timeout and -connection-timeout: stops at the first non-flag or
 * after `--`. A problem is reported as Go's flag package does it (its message and usage on stderr) and then usage().
 */
static void parse_flags(int count, char **args, int64_t *timeout, int64_t *connection_timeout) {
  int index = 0;
  while (index < count) {
    const char *arg = args[index];
    if (strlen(arg) < 2 || arg[0] != '-') break;
    size_t minuses = 1;
    if (arg[1] == '-') {
      minuses = 2;
      if (arg[2] == '\0') break;
    }
    const char *name = arg + minuses;
    struct text error = {0};
    if (name[0] == '\0' || name[0] == '-' || name[0] == '=') {
      add(&error, "bad flag syntax: ");
      add(&error, arg);
    }
    index++;
    const char *value = NULL;
    size_t name_length = strlen(name);
    const char *equals = strchr(name, '=');
    if (error.length == 0 && equals != NULL) {
      value = equals + 1;
      name_length = (size_t)(equals - name);
    }
    int64_t *target = NULL;
    if (error.length == 0) {
      if (name_length == 7 && memcmp(name, "timeout", 7) == 0) target = timeout;
      else if (name_length == 18 && memcmp(name, "connection-timeout", 18) == 0) target = connection_timeout;
      else if ((name_length == 4 && memcmp(name, "help", 4) == 0) || (name_length == 1 && name[0] == 'h')) {
        puts_fd(2, "Usage:\n");
        puts_fd(2, FLAG_DEFAULTS);
        usage("flag: help requested", NULL);
      } else {
        add(&error, "flag provided but not defined: -");
        append(&error, name, name_length);
      }
    }
    if (error.length == 0 && value == NULL) {
      if (index >= count) {
        add(&error, "flag needs an argument: -");
        append(&error, name, name_length);
      } else {
        value = args[index++];
      }
    }
    if (error.length == 0 && parse_duration(value, target) != 0) {
      add(&error, "invalid value \"");
      add(&error, value);  // Go quotes with %q; the values these flags get are printable
      add(&error, "\" for flag -");
      append(&error, name, name_length);
      add(&error, ": parse error");
    }
    if (error.length > 0) {
      put(2, error.bytes, error.length);
      puts_fd(2, "\nUsage:\n");
      puts_fd(2, FLAG_DEFAULTS);
      usage(error.bytes, NULL);
    }
  }
}

static int64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/** Milliseconds left before deadline (never negative; a deadline in the past has 0 left). */
static int remaining_ms(int64_t deadline) {
  int64_t left = deadline - now_ms();
  if (left <= 0) return 0;
  return left > INT32_MAX ? INT32_MAX : (int)left;
}

/** Nanoseconds to a monotonic deadline in ms; Go's time.Duration saturates, and so does this. */
static int64_t deadline_after(int64_t nanoseconds) {
  int64_t milliseconds = nanoseconds / 1000000;
  int64_t now = now_ms();
  if (milliseconds > INT64_MAX - now) return INT64_MAX;
  return now + milliseconds;
}

/** Waits until fd is ready for events or the deadline passes; 1 ready, 0 timed out. */
static int wait_for(int fd, short events, int64_t deadline) {
  for (;;) {
    int left = remaining_ms(deadline);
    if (left == 0 && deadline != INT64_MAX) {
      struct pollfd probe = {fd, events, 0};
      return poll(&probe, 1, 0) > 0;
    }
    struct pollfd target = {fd, events, 0};
    int ready = poll(&target, 1, deadline == INT64_MAX ? -1 : left);
    if (ready > 0) return 1;
    if (ready == 0) return 0;
    if (errno != EINTR) return 1;  // let the next system call report the problem
  }
}

/** Go's %v of a []string: `[a b]`. */
static void add_list(struct text *text, char **values, int count) {
  add(text, "[");
  for (int i = 0; i < count; i++) {
    if (i > 0) add(text, " ");
    add(text, values[i]);
  }
  add(text, "]");
}

/** The request frame: type, u16 BE total length, then one raw argument or WAL-G's argument list. */
static struct text encode_request(const struct command *command, char **args) {
  struct text body = {0};
  append(&body, "", 0);
  if (command->argument_count == 1) {
    add(&body, args[0]);
  } else {
    unsigned char count = (unsigned char)command->argument_count;
    append(&body, (const char *)&count, 1);
    for (int i = 0; i < command->argument_count; i++) {
      size_t length = strlen(args[i]);
      if (length > 0xffff) fatal("unsupported arg size");
      unsigned char prefix[2] = {(unsigned char)(length >> 8), (unsigned char)length};
      append(&body, (const char *)prefix, 2);
      append(&body, args[i], length);
      if (body.length > (size_t)(MAX_FRAME - 1 - 2 * command->argument_count)) fatal("unsupported total args size");
    }
  }
  size_t total = 3 + body.length;
  if (total > MAX_FRAME) {
    char message[96];
    snprintf(message, sizeof message, "message too long: %zu bytes, the protocol allows %d", total, MAX_FRAME);
    fatal(message);
  }
  struct text frame = {0};
  unsigned char header[3] = {(unsigned char)command->type, (unsigned char)(total >> 8), (unsigned char)total};
  append(&frame, (const char *)header, 3);
  append(&frame, body.bytes, body.length);
  free(body.bytes);
  return frame;
}

static _Noreturn void timed_out(const char *phase, const char *socket_path) {
  struct text message = {0};
  add(&message, "unix socket ");
  add(&message, phase);
  add(&message, " error: ");
  add(&message, phase);
  add(&message, " unix @->");
  add(&message, socket_path);
  add(&message, ": i/o timeout");
  fatal(message.bytes);
}

static _Noreturn void socket_failed(const char *phase, int error) {
  struct text message = {0};
  add(&message, "unix socket ");
  add(&message, phase);
  add(&message, " error: ");
  add_reason(&message, error);
  fatal(message.bytes);
}

/** Go's dial error: `dial unix PATH: i/o timeout` (operation NULL) or `dial unix PATH: connect: <reason>`. */
static _Noreturn void dial_failed(const char *socket_path, const char *operation, int error) {
  struct text message = {0};
  add(&message, "unix socket dial error: dial unix ");
  add(&message, socket_path);
  add(&message, ": ");
  if (operation == NULL) {
    add(&message, "i/o timeout");
  } else {
    add(&message, operation);
    add(&message, ": ");
    add_reason(&message, error);
  }
  fatal(message.bytes);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcasecmp(argv[1], "--version") == 0) {
    puts_fd(1, "walg-daemon-client\t" WALNUT_VERSION "\t" WALNUT_REVISION "\t" WALNUT_BUILD_DATE "\n");
    return 0;
  }
  if (argc - 1 < 2) usage("not enough arguments", NULL);
  const char *socket_path = argv[1];
  for (char *c = argv[2]; *c != '\0'; c++) *c = (char)tolower((unsigned char)*c);
  const struct command *command = NULL;
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
    if (strcmp(argv[2], COMMANDS[i].name) == 0) command = &COMMANDS[i];
  }
  if (command == NULL) {
    struct text error = {0};
    add(&error, "unsupported command ");
    add(&error, argv[2]);
    usage(error.bytes, NULL);
  }
  if (argc - 3 < command->argument_count) usage("not enough command arguments", command);
  char **message_args = argv + 3;
  int64_t timeout = 60000000000LL, connection_timeout = 5000000000LL;
  parse_flags(argc - 3 - command->argument_count, argv + 3 + command->argument_count, &timeout, &connection_timeout);

  struct stat status;
  if (stat(socket_path, &status) != 0) {
    int error = errno;
    struct text message = {0};
    add(&message, "daemon socket '");
    add(&message, socket_path);
    add(&message, "' doesn't exist or is unavailable:\n\tstat ");
    add(&message, socket_path);
    add(&message, ": ");
    add_reason(&message, error);
    fatal(message.bytes);
  }
  struct text frame = encode_request(command, message_args);

  // Dial within the connection timeout (Go: a context deadline; one already past fails at once).
  int64_t connect_deadline = deadline_after(connection_timeout);
  if (connection_timeout <= 0) dial_failed(socket_path, NULL, 0);
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof address.sun_path) dial_failed(socket_path, "connect", EINVAL);
  strcpy(address.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) dial_failed(socket_path, "socket", errno);
  while (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    if (errno == EINTR) continue;
    // A Unix socket whose backlog is full answers EAGAIN; Go waits for it to become writable and tries again.
    if (errno != EAGAIN && errno != EINPROGRESS) dial_failed(socket_path, "connect", errno);
    if (!wait_for(fd, POLLOUT, connect_deadline)) dial_failed(socket_path, NULL, 0);
  }

  // One deadline for the write and the read, as Go's SetDeadline.
  int64_t deadline = timeout <= 0 ? now_ms() - 1 : deadline_after(timeout);
  if (timeout <= 0) timed_out("write", socket_path);
  size_t sent = 0;
  while (sent < frame.length) {
    ssize_t written = send(fd, frame.bytes + sent, frame.length - sent, MSG_NOSIGNAL);
    if (written >= 0) {
      sent += (size_t)written;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) socket_failed("write", errno);
    if (!wait_for(fd, POLLOUT, deadline)) timed_out("write", socket_path);
  }
  unsigned char answer[512];
  ssize_t received;
  for (;;) {
    received = recv(fd, answer, sizeof answer, 0);
    if (received > 0) break;
    if (received == 0) fatal("unix socket read error: EOF");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) socket_failed("read", errno);
    if (!wait_for(fd, POLLIN, deadline)) timed_out("read", socket_path);
  }
  close(fd);
  if (answer[0] == ANSWER_OK) return 0;
  struct text message = {0};
  add(&message, "daemon command run error [message type: ");
  append(&message, &command->type, 1);
  add(&message, ", args: ");
  add_list(&message, message_args, command->argument_count);
  add(&message, ", daemon response: ");
  append(&message, (const char *)answer, 1);
  add(&message, "]");
  if (answer[0] == ANSWER_NOT_FOUND) {
    add(&message, "\n");
    put(1, message.bytes, message.length);
    return EXIT_WAL_NOT_FOUND;
  }
  fatal(message.bytes);
}
