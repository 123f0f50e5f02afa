#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# srv_perl.pl -- SRV lookup with Net::DNS (Debian libnet-dns-perl), as a Perl service would.
# Owns:   a Net::DNS::Resolver pointed at one server and port (not /etc/resolv.conf's),
#         the SRV query, then A and AAAA queries for every target.
# Usage:  perl srv_perl.pl SERVER PORT [NAME]   (NAME: _data._tcp.service.local)
# Output: one line per SRV record, "TARGET PORT ADDRESS", sorted; TARGET has no
#         final dot; ADDRESS is "-" when the target has no A/AAAA record, and a
#         target with several addresses gets one line per address.
# Exit:   0 records printed; 1 lookup failed or no SRV record; 2 usage.
use strict;
use warnings;

use Net::DNS;
use Socket qw(AF_INET6 inet_pton inet_ntop);

if (@ARGV < 2 || @ARGV > 3) {
	print STDERR "usage: perl srv_perl.pl SERVER PORT [NAME]\n";
	exit 2;
}
my ($server, $port, $name) = @ARGV;
$name //= '_data._tcp.service.local';

my $res = Net::DNS::Resolver->new(
	nameservers => [$server],
	port        => $port,
	recurse     => 1,
	defnames    => 0,	# no default domain appended
	dnsrch      => 0,	# no search list
	tcp_timeout => 5,
	udp_timeout => 5,
	retry       => 2,
);

# The target's addresses; AAAA in canonical text (RFC 5952), as inet_ntop writes it.
sub addresses {
	my ($target) = @_;
	my @out;
	for my $type (qw(A AAAA)) {
		my $reply = $res->query($target, $type) or next;
		for my $rr (grep { $_->type eq $type } $reply->answer) {
			push @out, $type eq 'A' ? $rr->address
			    : inet_ntop(AF_INET6, inet_pton(AF_INET6, $rr->address));
		}
	}
	return @out;
}

my $reply = $res->query($name, 'SRV');
my @srv = $reply ? grep { $_->type eq 'SRV' } $reply->answer : ();
unless (@srv) {
	printf STDERR "srv_perl: %s SRV: %s\n", $name, $reply ? 'no records' : $res->errorstring;
	exit 1;
}
my @lines;
for my $rr (@srv) {
	(my $target = $rr->target) =~ s/\.$//;
	my @addrs = addresses($target);
	push @lines, map { "$target " . $rr->port . " $_" } (@addrs ? @addrs : ('-'));
}
print "$_\n" for sort @lines;
exit 0;
