import { backlog } from './backlog.js';
console.log(JSON.stringify(await backlog(Number(process.argv[2]))));
