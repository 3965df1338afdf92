/** What the vitest global setup hands to every case file (provide/inject). */
declare module 'vitest' {
  export interface ProvidedContext {
    /** why kernel cases cannot run here (one line), or '' when they can */
    kernelCasesBlocked: string;
  }
}
export {};
