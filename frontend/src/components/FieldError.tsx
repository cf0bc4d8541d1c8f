interface Props {
  id: string;
  message: string | undefined;
}

/** A field's error, referenced from the field with aria-describedby. */
export function FieldError({ id, message }: Props) {
  if (!message) return null;
  return (
    <p id={id} className="field__error">
      {message}
    </p>
  );
}
