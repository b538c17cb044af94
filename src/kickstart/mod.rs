//! Kickstart front end: files in, typed `Kickstart` out.
