# interpose-work.pl - a deterministic Perl workload for interpose.sh:
# hashes, sorts and string building over a generated data set.  Prints
# digests only, so runs with and without hakmem preloaded must agree.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

my (%count, @lines);
open my $fh, '<', $ARGV[0] or die "open $ARGV[0]: $!";
while (my $line = <$fh>) {
    chomp $line;
    push @lines, $line;
    $count{$_}++ for split ' ', $line;
}
close $fh;

my @keys = sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count;
print "words ", scalar(@keys), " ", md5_hex(join ',', map { "$_=$count{$_}" } @keys), "\n";
print "sorted ", md5_hex(join "\n", sort @lines), "\n";
my @nums = sort { $a <=> $b } map { length($_) * 7919 % 1000 } @lines;
print "nums ", md5_hex("@nums"), "\n";
my %by_len;
push @{ $by_len{length $_} }, $_ for @lines;
print "lengths ", scalar(keys %by_len), "\n";
my $s = '';
$s .= chr(65 + $_ % 26) x ($_ % 100) for 1 .. 100000;
print "string ", length($s), " ", md5_hex($s), "\n";
my $big = 'x' x (3 * 1024 * 1024);
$big .= 'y' x (5 * 1024 * 1024);
print "big ", length($big), " ", md5_hex($big), "\n";
