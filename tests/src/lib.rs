//! Integration-test harness (filled in below).
