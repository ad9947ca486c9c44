/** A command's failure, told to a person: what went wrong and, where there is one, what to do about it. */
export class CliError extends Error {
  readonly hint: string | undefined

  constructor (message: string, hint?: string) {
    super(message)
    this.name = 'CliError'
    this.hint = hint
  }
}
