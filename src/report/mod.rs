//! Reporters: findings to text, JSON, JSON Lines, SARIF and JUnit.
//!
//! This module owns output formats and their documented schemas. It sees only
//! findings, never keys or plaintext.
