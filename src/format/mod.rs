//! Byte layouts of what kube-apiserver stores, and nothing else.
//!
//! This module owns the stored-value prefix grammar (`k8s:enc:<provider>:v1:<key>:`),
//! the KMS v1 and v2 envelopes, the bounds-checked [`reader::Reader`] every
//! decoder of untrusted bytes uses, and the hand-read protobuf wire format
//! ([`protowire`]) of the messages read once per stored object. It performs no cryptography and no I/O:
//! decoders return structured views of the bytes, encoders build them, and
//! every decoder has an encoder or a golden fixture.

pub mod kmsv1;
pub mod kmsv2;
pub mod prefix;
pub mod protowire;
pub mod reader;
