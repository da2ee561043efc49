/**
 * @since 0.1.0
 */

/**
 * RFC 9162 Merkle tree hashing, and the nodes a store keeps to serve roots and proofs.
 *
 * @since 0.1.0
 */
export * as MerkleTree from "./MerkleTree.js"

/**
 * Offline verification of inclusion and consistency proofs, and in-memory proof building.
 *
 * @since 0.1.0
 */
export * as MerkleProof from "./MerkleProof.js"

/**
 * Signed checkpoints in the C2SP tlog-checkpoint and signed-note formats, with Ed25519 keys.
 *
 * @since 0.1.0
 */
export * as Checkpoint from "./Checkpoint.js"

/**
 * Proof bundles: an entry, its inclusion proof and a signed checkpoint, verifiable offline.
 *
 * @since 0.1.0
 */
export * as ProofBundle from "./ProofBundle.js"

/**
 * What packages record: actor, action, purpose, legal basis, subject, resource, details.
 *
 * @since 0.1.0
 */
export * as AuditEvent from "./AuditEvent.js"

/**
 * The small interface packages record processing through.
 *
 * @since 0.1.0
 */
export * as AuditTrail from "./AuditTrail.js"

/**
 * An entry of a log and its canonical, hashed encoding.
 *
 * @since 0.1.0
 */
export * as AuditEntry from "./AuditEntry.js"

/**
 * The per-tenant log: appends, proofs, checkpoints, bundles, queries, redaction and verification.
 *
 * @since 0.1.0
 */
export * as AuditLog from "./AuditLog.js"

/**
 * Storage of entries, subtree hashes, log states and checkpoints, in memory or SQL.
 *
 * @since 0.1.0
 */
export * as AuditStore from "./AuditStore.js"

/**
 * Publication of signed checkpoints outside the database.
 *
 * @since 0.1.0
 */
export * as CheckpointPublisher from "./CheckpointPublisher.js"
