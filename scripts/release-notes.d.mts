/** Types of release-notes.mjs for the tests that import it. */
export declare function releaseNotes(tag: string, changelog: string, packageVersion: string): string
