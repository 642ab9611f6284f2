/** The part of autocannon's API the bench uses (the package ships no types). */
declare module 'autocannon' {
  interface AutocannonRequest {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
    setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest
    onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void
  }
  interface AutocannonOptions {
    url: string
    connections?: number
    amount?: number
    duration?: number
    timeout?: number
    pipelining?: number
    requests?: AutocannonRequest[]
  }
  interface Histogram {
    average: number
    mean: number
    max: number
    min: number
    p50: number
    p90: number
    p97_5: number
    p99: number
  }
  interface AutocannonResult {
    requests: Histogram & { total: number }
    latency: Histogram
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    duration: number
  }
  function autocannon(options: AutocannonOptions): Promise<AutocannonResult>
  export default autocannon
}
