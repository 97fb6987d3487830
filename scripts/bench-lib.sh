# Shell helpers shared by the mount benchmarks (sourced, not run):
#   flock_holder DIR   PID of the process holding a flock on DIR (an scfs
#                      or passthrough daemon holds one on its BACKING)
#   cpu_ms PID         user + system CPU time of PID so far, in ms
#   now                seconds since the epoch, with nanoseconds
flock_holder() {
    local ino; ino=$(stat -c %i "$1")
    awk -v ino="$ino" '$2=="FLOCK" { split($6, a, ":"); if (a[3]==ino) print $5 }' /proc/locks | head -1
}
cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"
}
now() { date +%s.%N; }
