// Import this module before beryl-presence to run it where FinalizationRegistry is missing.
delete globalThis.FinalizationRegistry;
if (typeof FinalizationRegistry !== "undefined") throw new Error("FinalizationRegistry is still there");
