/**
 * The relay inside the jail's network namespace, where only loopback exists: it listens on
 * 127.0.0.1 ports (the model API's, the egress proxy's) and forwards each connection to the
 * Unix socket of the proxy outside, which the jail shows it. Perl, from perl-base (on every
 * Debian and Ubuntu runner): it adds about 6 ms to a command where node takes over 80, and binds
 * its ports before Codex runs, so no connection of Codex's can come first. It brings
 * loopback up (with CAP_NET_ADMIN in the namespace), binds, forks the relay, and execs the
 * command in its own process; the relay ends when that process has gone (or with the jail).
 */

/**
 * argv: -- [as=UID:GID] PORT SOCKET [PORT SOCKET …] -- [COMMAND [ARG …]]. A SOCKET may be
 * relative: to the directory the relay starts in, which it keeps when the jail's root
 * changes (the jail shows no socket). Two processes a connection, one a direction, each a
 * blocking copy: no buffering and no deadlock between directions.
 */
export const RELAY_SCRIPT = String.raw`
use strict;
# Linux's constants, without the Socket module (it alone would double the start-up time).
my ($INET, $UNIX, $STREAM, $DGRAM) = (2, 1, 1, 2);
my $as = @ARGV && $ARGV[0] =~ /^as=(\d+):(\d+)$/ ? [$1, $2, shift @ARGV] : undef;
my @routes; while (@ARGV && $ARGV[0] ne '--') { push @routes, [splice(@ARGV, 0, 2)] } shift @ARGV;
# Loopback up (SIOCSIFFLAGS: UP, LOOPBACK, RUNNING); where it is already, or cannot be, bind says so.
if (socket(my $ctl, $INET, $DGRAM, 0)) { my $ifr = pack('a16 s', 'lo', 0x49); ioctl($ctl, 0x8914, $ifr) }
for my $r (@routes) {
  socket(my $s, $INET, $STREAM, 0) or die "codex-auth-action relay: socket: $!\n";
  setsockopt($s, 1, 2, 1);
  bind($s, pack('S n C4 x8', $INET, $r->[0], 127, 0, 0, 1)) or die "codex-auth-action relay: cannot listen on 127.0.0.1:$r->[0]: $!\n";
  listen($s, 128) or die "codex-auth-action relay: listen: $!\n";
  push @$r, $s;
}
# Bound: the rest needs no privilege (as=UID:GID, from the jail's init).
if ($as) { $( = $as->[1]; $) = "$as->[1] $as->[1]"; $< = $> = $as->[0]; $> == $as->[0] && $) =~ /^$as->[1]\b/ or die "codex-auth-action relay: cannot drop to $as->[0]\n" }
my $owner = $$;
my $pid = fork() // die "codex-auth-action relay: fork: $!\n";
# With a command, it runs in this process and the relay lasts as long; without one, this
# process says the ports are bound by exiting, and the relay lasts as long as its PID namespace.
if ($pid) { exit 0 unless @ARGV; close($_->[2]) for @routes; exec { $ARGV[0] } @ARGV or die "codex-auth-action relay: cannot run $ARGV[0]: $!\n" }
my $tied = @ARGV;
$SIG{CHLD} = 'IGNORE'; $0 = 'codex-auth-action relay';
sub pump { my ($from, $to) = @_; my $buf; while (1) { my $n = sysread($from, $buf, 65536); last unless $n; my $o = 0; while ($o < $n) { my $w = syswrite($to, $buf, $n - $o, $o); exit 0 unless $w; $o += $w } } shutdown($to, 1); exit 0 }
while (1) {
  exit 0 if $tied && getppid() != $owner;
  my $rin = ''; vec($rin, fileno($_->[2]), 1) = 1 for @routes;
  next unless select(my $rout = $rin, undef, undef, 1) > 0;
  for my $r (@routes) {
    next unless vec($rout, fileno($r->[2]), 1);
    accept(my $c, $r->[2]) or next;
    # TCP_NODELAY, as node's servers set it: without it a write smaller than a segment waits
    # for the client's delayed ACK while one is in flight (up to 40 ms, at a response's start).
    setsockopt($c, 6, 1, 1);
    my $child = fork();
    if (defined $child && !$child) {
      my $u; (socket($u, $UNIX, $STREAM, 0) && connect($u, pack('S a108', $UNIX, $r->[1]))) or exit 0;
      my $back = fork() // exit 0;
      if ($back) { pump($c, $u) } else { pump($u, $c) }
    }
    close($c);
  }
}
`

/** One 127.0.0.1 port inside the jail and the Unix socket it leads to. */
export interface RelayRoute {
  port: number
  socket: string
}

/** The argv that runs `command` behind the relay's `routes`, with `perl` (an absolute path). */
export function relayCommand(perl: string, routes: RelayRoute[], command: string[], as?: string): string[] {
  return [
    perl,
    '-e',
    RELAY_SCRIPT,
    '--',
    ...(as ? [`as=${as}`] : []),
    ...routes.flatMap((r) => [String(r.port), r.socket]),
    '--',
    ...command
  ]
}
