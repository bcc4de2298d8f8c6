//! A malicious configuration repository: symlinks, paths outside the root, credential stores as
//! secret sources, huge files.
