//! Socket addresses from the bytes the kernel wrote (`msg_name`/`msg_namelen`): any bytes
//! decode or are refused without panicking, and what decodes encodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(a) = udpx::fuzzing::sockaddr_from_bytes(data) {
        let again = udpx::fuzzing::sockaddr_bytes(a);
        assert_eq!(udpx::fuzzing::sockaddr_from_bytes(&again), Some(a));
    }
});
