# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_scfs_global_optspecs
    string join \n h/help V/version
end

function __fish_scfs_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_scfs_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_scfs_using_subcommand
    set -l cmd (__fish_scfs_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c scfs -n "__fish_scfs_needs_command" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_needs_command" -s V -l version -d 'Print version'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "compress" -d 'Compress IN into OUT (tc v1 by default, or the v2 container)'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "decompress" -d 'Decompress a tc v1 file or a v2 container (told apart by the header)'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "info" -d 'Show a compressed file\'s format, sizes, ratio and block counts'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "verify" -d 'Decode every block and check every checksum; exit 1 on corruption'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "stats" -d 'Space report (original, stored, ratio, saved) for files or whole backing directories; needs no mount'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "convert" -d 'Turn plain files into containers in place (offline in BACKING, or through a live mount), keeping owner, mode, times, xattrs and links'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "status" -d 'Live state of a mount: cache, write-back, compaction and recompression, bytes written, checksum failures, options in force'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "mount" -d 'Mount a backing directory as a transparently compressing filesystem'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "umount" -d 'Unmount an scfs mount point'
complete -c scfs -n "__fish_scfs_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c scfs -n "__fish_scfs_using_subcommand compress" -l format -d 'Output format' -r -f -a "v1\t'tc v1: 64000-byte Huffman blocks, streamable, no checksums'
v2\t'v2: the filesystem\'s container (checksummed, indexed, random access)'"
complete -c scfs -n "__fish_scfs_using_subcommand compress" -l block-size -d 'Logical block size of a v2 container: a power of two from 4K to 1M (suffixes K/M accepted). v1 always uses 64000-byte blocks' -r
complete -c scfs -n "__fish_scfs_using_subcommand compress" -l level -d 'How the blocks of a v2 container are coded: none (stored raw), huffman (order-0 only), fast, default or max (LZ77 + Huffman, stronger and slower to write; every level reads fast). Default: default. v1 is always Huffman' -r
complete -c scfs -n "__fish_scfs_using_subcommand compress" -l sync -d 'fsync OUT before renaming it into place (and its directory after), so it survives a power loss right after the command returns'
complete -c scfs -n "__fish_scfs_using_subcommand compress" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c scfs -n "__fish_scfs_using_subcommand decompress" -l sync -d 'fsync OUT before renaming it into place (and its directory after)'
complete -c scfs -n "__fish_scfs_using_subcommand decompress" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand info" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand verify" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand stats" -l json -d 'Print JSON instead of a table'
complete -c scfs -n "__fish_scfs_using_subcommand stats" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand convert" -l level -d 'Level of the new containers: huffman, fast, default or max (default: default)' -r
complete -c scfs -n "__fish_scfs_using_subcommand convert" -l block-size -d 'Block size of the new containers when converting offline (through a mount, the mount\'s block_size applies): a power of two from 4K to 1M' -r
complete -c scfs -n "__fish_scfs_using_subcommand convert" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand status" -l json -d 'Print the daemon\'s JSON document (`"version": 1`) instead of a table'
complete -c scfs -n "__fish_scfs_using_subcommand status" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand mount" -s o -d 'Comma-separated mount options (may repeat); listed below' -r
complete -c scfs -n "__fish_scfs_using_subcommand mount" -l log-file -d 'Without -f: append the log to FILE instead of sending it to the system log' -r -F
complete -c scfs -n "__fish_scfs_using_subcommand mount" -s f -l foreground -d 'Stay in the foreground and log to stderr (level from RUST_LOG)'
complete -c scfs -n "__fish_scfs_using_subcommand mount" -s d -l debug -d 'Debug logging (RUST_LOG still wins when set)'
complete -c scfs -n "__fish_scfs_using_subcommand mount" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand umount" -l timeout -d 'Seconds to wait for the daemon to finish writing' -r
complete -c scfs -n "__fish_scfs_using_subcommand umount" -s z -l lazy -d 'Detach now even if busy; the daemon writes everything and exits when the last open file is closed (does not wait for it)'
complete -c scfs -n "__fish_scfs_using_subcommand umount" -s h -l help -d 'Print help'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "compress" -d 'Compress IN into OUT (tc v1 by default, or the v2 container)'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "decompress" -d 'Decompress a tc v1 file or a v2 container (told apart by the header)'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "info" -d 'Show a compressed file\'s format, sizes, ratio and block counts'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "verify" -d 'Decode every block and check every checksum; exit 1 on corruption'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "stats" -d 'Space report (original, stored, ratio, saved) for files or whole backing directories; needs no mount'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "convert" -d 'Turn plain files into containers in place (offline in BACKING, or through a live mount), keeping owner, mode, times, xattrs and links'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "status" -d 'Live state of a mount: cache, write-back, compaction and recompression, bytes written, checksum failures, options in force'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "mount" -d 'Mount a backing directory as a transparently compressing filesystem'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "umount" -d 'Unmount an scfs mount point'
complete -c scfs -n "__fish_scfs_using_subcommand help; and not __fish_seen_subcommand_from compress decompress info verify stats convert status mount umount help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
