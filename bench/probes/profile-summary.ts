// Probe: summarise a .cpuprofile file (e.g. from node --cpu-prof): argv[2] = file, argv[3] = rows.
import { formatSummary, summarizeProfile } from '../lib/cpu-profile'
console.log(formatSummary(summarizeProfile(process.argv[2]!, Number(process.argv[3] ?? 30))))
