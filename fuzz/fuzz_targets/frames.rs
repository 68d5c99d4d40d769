//! Frames through the assembler, the inflater and the UTF-8 check as the server runs them,
//! against the plain RFC 6455 reference decoder: the same events and the same close code,
//! whatever the reads. Input: a flags byte (bit 0: permessage-deflate negotiated; bits 1-2:
//! the message limit), a byte of read sizes' count, the sizes, then the stream.
#![no_main]

use herald_fuzz::{herald_decode, reference_decode, sizes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, count, rest @ ..] = data else {
        return;
    };
    let deflate = flags & 1 != 0;
    let max = [1 << 20, 0, 16, 200][usize::from(flags >> 1 & 3)];
    let count = usize::from(*count % 8).min(rest.len());
    let (sizes_bytes, stream) = rest.split_at(count);
    let want = reference_decode(stream, max, deflate);
    for reads in [&sizes(sizes_bytes)[..], &[], &[1]] {
        let got = herald_decode(stream, reads, max, deflate);
        assert_eq!(
            got, want,
            "reads of {reads:?}, max {max}, deflate {deflate}"
        );
    }
});
